"""Hyperparameter sweeps: ``sweep FILE`` and ``sweep status``."""

from __future__ import annotations

import click

from ..views import SWEEP_HEADER, sweep_rows
from ._common import (
    emit_json,
    handles_errors,
    json_option,
    progress,
    table,
)


# -- sweeps -------------------------------------------------------------------------------
class SweepGroup(click.Group):
    """``assethub sweep FILE.yaml`` runs a sweep; ``assethub sweep status …`` shows one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup)
def sweep() -> None:
    """Hyperparameter sweeps: 'assethub sweep FILE.yaml' runs or resumes one."""


@sweep.command(name="run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workers", type=int, default=None, help="Worker processes (default: the file's).")
@click.option("--trials", type=int, default=None, help="Trial budget (default: the file's).")
@json_option
@handles_errors
def sweep_run(file: str, workers: int | None, trials: int | None, as_json: bool) -> None:
    """Run the sweep in FILE, or resume it: finished trials are kept, the budget holds."""
    from ..sweeps.engine import run_sweep

    result = run_sweep(file, workers=workers, trials=trials, progress=progress)
    if as_json:
        emit_json(result.__dict__)
        return
    table(sweep_rows(result.trials), SWEEP_HEADER)
    best = result.best
    if best:
        tagged = f", tagged {best['tag']}" if best["tag"] else ""
        click.echo(
            f"best: trial {best['trial']} = {best['value']:.6g} ({best['commit'][:12]}{tagged})"
        )
    click.echo(f"{result.finished} of {result.budget} trials done.")


@sweep.command(name="status")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--study", default=None, help="The study's name (instead of its file).")
@click.option("--storage", default=None, help="Its Optuna storage URL (default: the hub's).")
@json_option
@handles_errors
def sweep_status_command(
    file: str | None, study: str | None, storage: str | None, as_json: bool
) -> None:
    """The trials of a sweep: number, state, value, best step, branch, params."""
    from ..sweeps.engine import sweep_status

    status = sweep_status(file, study=study, storage=storage)
    if as_json:
        emit_json(status)
        return
    click.echo(
        f"study {status['study']} on {status['model']} ({status['algorithm']}, {status['direction']} {status['metric']})"
    )
    table(sweep_rows(status["trials"]), SWEEP_HEADER)
