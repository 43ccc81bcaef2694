"""Notebook pipelines: ``run`` and ``dag`` (and ``status`` with no arguments)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ._common import (
    emit_json,
    handles_errors,
    json_option,
    open_hub,
)

# -- pipelines ----------------------------------------------------------------------------
project_option = click.option(
    "-C",
    "--project",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The pipeline project's folder (holding assethub.yaml).",
)
STAGE_MARKS = {
    "ran": "ran",
    "skipped": "skipped",
    "failed": "FAILED",
    "blocked": "blocked",
    "up-to-date": "up to date",
    "stale": "will run",
    "waiting": "will run",
}


def _stage_line(result: Any) -> str:
    """One line per stage: its state, then what it made or why it is not up to date."""
    detail = result.message or "; ".join(result.reasons)
    if not detail and result.outputs:
        detail = ", ".join(f"{o['ref']} {o['commit'][:12]}" for o in result.outputs.values())
    took = f" ({result.seconds:.1f} s)" if result.seconds else ""
    return f"{STAGE_MARKS[result.state]:<10} {result.name}{took}  {detail}".rstrip()


def _show_stages(results: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json([r.to_json() for r in results])
        return
    for result in results:
        click.echo(_stage_line(result))


@click.command()
@click.argument("stages", nargs=-1)
@project_option
@click.option("-j", "--jobs", default=1, show_default=True, help="Stages run side by side.")
@click.option("--retries", default=0, show_default=True, help="Retries of a failed stage.")
@click.option("--timeout", type=float, default=None, help="Seconds per stage attempt.")
@click.option("--dry-run", is_flag=True, help="Say what would run (as 'status'), run nothing.")
@click.option(
    "--frozen", is_flag=True, help="Ref inputs at the commits assethub.lock holds, not their heads."
)
@json_option
@handles_errors
def run(
    stages: tuple[str, ...],
    project: str,
    jobs: int,
    retries: int,
    timeout: float | None,
    dry_run: bool,
    frozen: bool,
    as_json: bool,
) -> None:
    """Run the pipeline's STAGES (all if none) and what they need; unchanged ones are skipped."""
    from ..pipeline.spec import load_pipeline
    from ..pipeline.workers import start_workers

    pipeline = load_pipeline(project)
    # first of all, so that papermill's import overlaps even the imports of the runner and hub
    with (
        start_workers(pipeline, list(stages), 0 if dry_run else jobs) as workers,
        open_hub() as hub,
    ):
        from ..pipeline.runner import PipelineRunner, RunOptions

        options = RunOptions(jobs=jobs, retries=retries, timeout=timeout, frozen=frozen)
        report = None if as_json else lambda r: click.echo(_stage_line(r))
        runner = PipelineRunner(hub, pipeline, options, report, workers)
        if dry_run:
            _show_stages(runner.plan(list(stages)), as_json)
            return
        results = runner.run(list(stages))
    if as_json:
        _show_stages(results, True)
    if any(r.state in ("failed", "blocked") for r in results):
        sys.exit(1)


def pipeline_status(as_json: bool) -> None:
    """``assethub status`` with no arguments: what each stage would do; nothing runs."""
    from ..pipeline.runner import PipelineRunner
    from ..pipeline.spec import load_pipeline

    pipeline = load_pipeline(".")
    with open_hub() as hub:
        _show_stages(PipelineRunner(hub, pipeline).plan(), as_json)


@click.command()
@project_option
@json_option
@handles_errors
def dag(project: str, as_json: bool) -> None:
    """The pipeline's stages in dependency order, with what each reads and writes."""
    from ..pipeline.spec import load_pipeline

    pipeline = load_pipeline(project)
    stages = [pipeline.stages[name].describe() for name in pipeline.order()]
    if as_json:
        emit_json(stages)
        return
    for stage in stages:
        after = f"  (after {', '.join(stage['upstream'])})" if stage["upstream"] else ""
        click.echo(f"{stage['name']}: {stage['notebook']}{after}")
        for name, source in stage["inputs"].items():
            click.echo(f"  <- {name} = {source}")
        for name, target in stage["outputs"].items():
            click.echo(f"  -> {name} = {target['to']} (from {target['from']})")
