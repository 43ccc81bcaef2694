"""The ``assethub`` command.

Exit codes: 0 success; 1 the hub refused or failed (not found, conflict, "branch moved",
permission denied, integrity problems found by fsck); 2 the command line or an input was
malformed. Errors are one line on stderr, never a traceback. Listings take ``--json``.
Long work shows a tqdm bar on a terminal and nothing when piped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .commit_options import commit_values
from .core.errors import AssetHubError
from .views import (
    LOG_HEADER,
    SWEEP_HEADER,
    commit_dict,
    human_size,
    json_default,
    log_row,
    sweep_rows,
    text_table,
    when,
)

if TYPE_CHECKING:
    from .core.datasets import DraftChange
    from .core.hub import Hub
    from .core.progress import ProgressBar

F = TypeVar("F", bound=Callable[..., Any])


def _progress(description: str, total: int, unit: str) -> ProgressBar:
    if not sys.stderr.isatty():
        from .core.progress import no_progress

        return no_progress(description, total, unit)
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, leave=False)


@contextmanager
def _hub() -> Iterator[Hub]:
    from .core.hub import Hub

    hub = Hub()
    try:
        yield hub
    finally:
        hub.close()


def _one_line(message: str) -> str:
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _handles_errors(func: F) -> F:
    """Turn an ``AssetHubError`` into one line on stderr and its exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AssetHubError as err:
            click.echo(f"error: {_one_line(str(err))}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing half-done was kept.", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, default=json_default, indent=2))


def _table(rows: list[list[str]], header: list[str]) -> None:
    if rows:
        click.echo(text_table(header, rows))


def _changes(changes: list[Any], as_json: bool) -> None:
    if as_json:
        _emit_json(changes)
        return
    marks = {"added": "+", "removed": "-", "changed": "M"}
    for change in changes:
        sizes = (
            f"{human_size(change.old_size)} -> {human_size(change.new_size)}"
            if change.status == "changed"
            else human_size(change.new_size if change.new_size is not None else change.old_size)
        )
        click.echo(f"{marks[change.status]} {change.path}  ({sizes})")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="assethub-ext", prog_name="assethub")
def cli() -> None:
    """Version control for datasets and models, with lineage."""


def main() -> None:
    """The ``assethub`` entry point: click's own usage errors become one line too."""
    try:
        code = cli.main(standalone_mode=False)
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())} (see 'assethub --help')", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted: nothing half-done was kept.", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


@cli.command()
@_handles_errors
def init() -> None:
    """Create (or upgrade) the hub named by ASSETHUB_HOME / ASSETHUB_DB."""
    with _hub() as hub:
        click.echo(f"hub ready at {hub.init()}")


@cli.command()
@click.argument("path")
@click.option("-d", "--description", default="", help="What the asset holds.")
@_handles_errors
def create(path: str, description: str) -> None:
    """Create a folder (owner/type/folder) or an asset (owner/type/folder/name)."""
    with _hub() as hub:
        click.echo(hub.create(path, description))


@cli.command(name="ls")
@click.argument("prefix", default="")
@json_option
@_handles_errors
def ls_command(prefix: str, as_json: bool) -> None:
    """List folders, the assets of a folder, or describe one asset."""
    with _hub() as hub:
        items = hub.ls(prefix)
    if as_json:
        _emit_json(items)
    elif len(items) == 1 and "refs" in items[0]:
        _describe(items[0])
    elif items and items[0]["kind"] == "folder":
        _table(
            [[i["path"], i["type"], str(i["assets"])] for i in items], ["PATH", "TYPE", "ASSETS"]
        )
    else:
        rows = [
            [i["path"], i["type"], i["latest"] or ",".join(i["branches"]) or "-"] for i in items
        ]
        _table(rows, ["PATH", "TYPE", "LATEST"])


def _describe(info: dict[str, Any]) -> None:
    click.echo(
        f"{info['path']}  ({info['type']}, created by {info['created_by']} {when(info['created_at'])} UTC)"
    )
    if info["description"]:
        click.echo(info["description"])
    rows = [
        [
            r["name"],
            r["kind"],
            r["commit"][:12],
            when(r["created_at"]),
            r.get("derived_from") or "",
            r["message"][:40],
        ]
        for r in info["refs"]
    ]
    _table(rows, ["REF", "KIND", "COMMIT", "TIME (UTC)", "FROM", "MESSAGE"])
    draft = info.get("draft")
    if draft:
        state = "unpublished changes" if draft["unpublished_changes"] else "no unpublished changes"
        click.echo(
            f"draft: revision {draft['revision']}, based on {draft['base_version'] or 'nothing'}, {state}"
        )


@cli.command()
@click.argument("path")
@click.option("--force", is_flag=True, help="Delete even if other assets depend on it.")
@_handles_errors
def delete(path: str, force: bool) -> None:
    """Delete an asset or a folder."""
    with _hub() as hub:
        click.echo(f"deleted {hub.delete(path, force=force)}")


@cli.command()
@click.argument("path")
@click.argument("sources", nargs=-1, required=True, type=click.Path())
@click.option(
    "--publish",
    "then_publish",
    is_flag=True,
    help="Then publish the draft as the next version (one process: start-up paid once).",
)
@click.option("-m", "--message", default="", help="The version's message (with --publish).")
@click.option(
    "--link",
    is_flag=True,
    help="Take files into the store by reflink, else by hard link, which makes them "
    "read-only (edit them by replacing them, never in place); no copy is made, and "
    "checkouts can link them back.",
)
@_handles_errors
def add(path: str, sources: tuple[str, ...], then_publish: bool, message: str, link: bool) -> None:
    """Add files or folders to a dataset's draft, each under its own name."""
    with _hub() as hub:
        change = hub.add(path, list(sources), progress=_progress, link=link)
        _print_change(path, change)
        if then_publish:
            click.echo(str(hub.publish(path, message)))


def _print_change(path: str, change: DraftChange) -> None:
    counts = {
        s: sum(1 for c in change.changes if c.status == s) for s in ("added", "changed", "removed")
    }
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no changes"
    click.echo(
        f"{path}:draft  {summary}; {change.files} files, {human_size(change.hashed_bytes)} hashed, "
        f"{human_size(change.stored_bytes)} new in the store"
        + (f" ({change.linked_files} linked, not copied)" if change.linked_files else "")
    )


@cli.command()
@click.argument("path", required=False)
@click.argument("sources", nargs=-1, type=click.Path())
@json_option
@_handles_errors
def status(path: str | None, sources: tuple[str, ...], as_json: bool) -> None:
    """What changed in SOURCES since they were last added to PATH (no database opened).

    With no arguments, in a pipeline project: which stages are up to date, and why the
    others are not.
    """
    if path is None:
        _pipeline_status(as_json)
        return
    if not sources:
        raise click.UsageError("give the SOURCES to compare with PATH (or no argument at all).")
    from .core.config import HubConfig
    from .core.status import workspace_status
    from .core.tree import Tree
    from .core.workspace_index import WorkspaceIndex

    config = HubConfig.from_env()
    index = WorkspaceIndex(config.workspace_index)

    def load_tree(digest: str) -> Tree:
        """Opened only when the folder changed: an unchanged one needs no tree."""
        from .storage.local import LocalObjectStore

        store = LocalObjectStore(config.store)
        try:
            return Tree.decode(store.read_bytes(digest))
        finally:
            store.close()

    try:
        changes = workspace_status(path, list(sources), index=index, load_tree=load_tree)
    finally:
        index.close()
    if not changes and not as_json:
        click.echo("up to date")
        return
    _changes(changes, as_json)


@cli.command()
@click.argument("path")
@click.argument("files", nargs=-1, required=True)
@_handles_errors
def rm(path: str, files: tuple[str, ...]) -> None:
    """Remove files or folders from a dataset's draft."""
    with _hub() as hub:
        change = hub.rm(path, list(files))
    click.echo(f"{path}:draft  {len(change.changes)} removed")


@cli.command()
@click.argument("path")
@click.option("-m", "--message", default="", help="What this version is.")
@_handles_errors
def publish(path: str, message: str) -> None:
    """Freeze the draft as the next version (vN); prints PATH:vN."""
    with _hub() as hub:
        click.echo(str(hub.publish(path, message)))


@cli.command()
@click.argument("path")
@click.option("--from", "from_ref", required=True, help="The published version to start from.")
@click.option("--force", is_flag=True, help="Discard unpublished changes in the draft.")
@_handles_errors
def derive(path: str, from_ref: str, force: bool) -> None:
    """Start the draft from any published version."""
    with _hub() as hub:
        change = hub.derive(path, from_ref, force=force)
    click.echo(f"{path}:draft  now based on {from_ref} ({change.files} files)")


@cli.command()
@click.argument("path")
@click.option("--from", "from_ref", required=True, help="The published version to restore from.")
@click.argument("files", nargs=-1, required=True)
@_handles_errors
def restore(path: str, from_ref: str, files: tuple[str, ...]) -> None:
    """Bring files back into the draft from a published version."""
    with _hub() as hub:
        change = hub.restore(path, from_ref, list(files))
    click.echo(f"{path}:draft  {len(change.changes)} restored from {from_ref}")


@cli.command()
@click.argument("ref")
@click.argument("source", type=click.Path())
@click.option(
    "--input", "inputs", multiple=True, help="An asset ref this was made from, repeatable."
)
@_handles_errors
@commit_values
def commit(ref: str, source: str, inputs: tuple[str, ...], values: dict[str, Any]) -> None:
    """Commit the contents of SOURCE as the new head of PATH:BRANCH."""
    with _hub() as hub:
        done = hub.commit(ref, source, inputs=list(inputs), progress=_progress, **values)
    click.echo(f"{ref}  {done.id[:12]}")


@cli.command()
@click.argument("ref")
@click.argument("dest", type=click.Path())
@click.option(
    "--link",
    type=click.Choice(["auto", "reflink", "hardlink", "copy"]),
    default="auto",
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite files modified since an earlier checkout.")
@_handles_errors
def checkout(ref: str, dest: str, link: str, force: bool) -> None:
    """Materialise REF's files into DEST (an empty folder, or an earlier checkout to update).

    Files of 1 MiB and more, and files added with ``add --link``, are reflinked where the
    file system can, else hard-linked (read-only), else copied; other small files are
    stored in packs and always copied.
    """
    with _hub() as hub:
        done = hub.checkout(ref, dest, link=link, force=force, progress=_progress)  # type: ignore[arg-type]
    methods = (
        ", ".join(f"{n} {m}" for m, n in sorted(done.report.methods.items())) or "nothing to write"
    )
    click.echo(
        f"{done.ref} ({done.commit_id[:12]}) -> {dest}: {done.report.files} files ({methods})"
    )
    if link in ("hardlink", "reflink") and done.report.methods.get("copy"):
        click.echo(
            "note: files under 1 MiB are packed (unless added with 'add --link') and are copied."
        )


@cli.command()
@click.argument("ref")
@click.option("-n", "limit", type=int, default=None, help="Show at most N commits.")
@json_option
@_handles_errors
def log(ref: str, limit: int | None, as_json: bool) -> None:
    """Commits reachable from REF, newest first, with params and metrics."""
    with _hub() as hub:
        commits = hub.log(ref, limit)
    if as_json:
        _emit_json([commit_dict(c) for c in commits])
        return
    _table([log_row(c, width=40) for c in commits], LOG_HEADER)


@cli.command()
@click.argument("ref")
@click.option("--files", is_flag=True, help="List every file.")
@json_option
@_handles_errors
def show(ref: str, files: bool, as_json: bool) -> None:
    """A commit: its refs, files, params, metrics and lineage."""
    with _hub() as hub:
        info = hub.show(ref)
    commit, tree, evaluations = info.pop("commit"), info.pop("tree"), info.pop("evaluations")
    if as_json:
        info["commit"] = commit_dict(commit)
        info["evaluations"] = [commit_dict(e) for e in evaluations]
        if files:
            info["tree"] = list(tree.values())
        _emit_json(info)
        return
    click.echo(f"{info['asset']}:{info['ref']}  commit {commit.id}")
    click.echo(
        f"refs: {', '.join(info['refs']) or '-'}   kind: {commit.kind}   parents: {', '.join(p[:12] for p in commit.parents) or '-'}"
    )
    click.echo(
        f"author: {commit.author}   time: {when(commit.created_at)} UTC   files: {info['files']} ({human_size(info['size'])})"
    )
    if commit.message:
        click.echo(f"message: {commit.message}")
    for label, values in (
        ("params", commit.params),
        ("metrics", commit.metrics),
        ("meta", commit.meta),
    ):
        if values:
            click.echo(f"{label}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for item in commit.lineage.get("inputs", []):
        click.echo(f"input: {item['ref']} ({item['commit'][:12]})")
    code = commit.lineage.get("code")
    if code:
        click.echo(
            f"code: {code.get('remote') or code.get('root')} @ {code['commit'][:12]}{' (dirty, patch stored)' if code.get('patch') else ''}"
        )
    for evaluation in evaluations:
        scores = ", ".join(f"{k}={v}" for k, v in evaluation.metrics.items())
        click.echo(f"evaluation: {evaluation.id[:12]} {when(evaluation.created_at)}  {scores}")
    if files:
        for entry in tree.values():
            click.echo(f"  {entry.path}  {human_size(entry.size)}  {entry.digest[:12]}")


@cli.command()
@click.argument("a")
@click.argument("b")
@json_option
@_handles_errors
def diff(a: str, b: str, as_json: bool) -> None:
    """Files added/removed/changed from A to B, and params and metrics side by side."""
    with _hub() as hub:
        result = hub.diff(a, b)
    if as_json:
        _emit_json(result)
        return
    _changes(result.changes, False)
    for label, values in (("param", result.params), ("metric", result.metrics)):
        for key, (left, right) in values.items():
            mark = " " if left == right else "*"
            click.echo(f"{mark} {label} {key}: {left} -> {right}")


@cli.group()
def branch() -> None:
    """Create, list and delete model branches."""


@branch.command(name="create")
@click.argument("ref")
@click.argument("name")
@_handles_errors
def branch_create(ref: str, name: str) -> None:
    """Create branch NAME at REF."""
    with _hub() as hub:
        commit_id = hub.branch_create(ref, name)
    click.echo(f"{name} -> {commit_id[:12]}")


@branch.command(name="list")
@click.argument("path")
@json_option
@_handles_errors
def branch_list(path: str, as_json: bool) -> None:
    """The branches of a model."""
    with _hub() as hub:
        branches = hub.branch_list(path)
    if as_json:
        _emit_json(branches)
        return
    _table(
        [[b["name"], b["commit"][:12], when(b["updated_at"]), b["message"][:50]] for b in branches],
        ["BRANCH", "HEAD", "UPDATED (UTC)", "MESSAGE"],
    )


@branch.command(name="delete")
@click.argument("path")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even if its commits become unreachable.")
@_handles_errors
def branch_delete(path: str, name: str, force: bool) -> None:
    """Delete branch NAME of the model at PATH."""
    with _hub() as hub:
        commit_id = hub.branch_delete(path, name, force=force)
    click.echo(f"deleted {name} (was {commit_id[:12]})")


@cli.command()
@click.argument("ref")
@click.argument("name")
@_handles_errors
def tag(ref: str, name: str) -> None:
    """Name REF's commit forever."""
    with _hub() as hub:
        commit_id = hub.tag(ref, name)
    click.echo(f"{name} -> {commit_id[:12]}")


@cli.command()
@click.argument("path")
@click.argument("source")
@click.option("--into", default="main", show_default=True, help="The branch to merge into.")
@click.option(
    "--strategy", type=click.Choice(["ours", "theirs"]), default=None, help="Resolve conflicts."
)
@click.option("-m", "--message", default="")
@_handles_errors
def merge(path: str, source: str, into: str, strategy: str | None, message: str) -> None:
    """Merge SOURCE into a branch: fast-forward when possible, else a merge commit."""
    from .core.errors import MergeConflict

    with _hub() as hub:
        try:
            result = hub.merge(path, source, into=into, strategy=strategy, message=message)
        except MergeConflict as conflict:
            for conflicted in conflict.paths:
                click.echo(f"conflict: {conflicted}", err=True)
            raise
    click.echo(f"{path}:{into}  {result.kind}  {result.commit_id[:12]}")


@cli.command()
@click.argument("ref")
@click.option(
    "--up/--down",
    default=True,
    help="Walk to inputs (up, default) or to what was made from REF (down).",
)
@click.option("--depth", type=int, default=10, show_default=True)
@json_option
@_handles_errors
def lineage(ref: str, up: bool, depth: int, as_json: bool) -> None:
    """What REF was made from (--up), or what was made from it (--down)."""
    with _hub() as hub:
        graph = hub.lineage(ref, up=up, down=not up, depth=depth)
    if as_json:
        _emit_json({"root": graph.root, "nodes": list(graph.nodes.values()), "edges": graph.edges})
        return

    def label(commit_id: str) -> str:
        node = graph.nodes.get(commit_id, {})
        names = ",".join(node.get("refs", []))
        asset = node.get("asset", "(not readable)" if node.get("restricted") else "?")
        return f"{asset}:{names or commit_id[:12]}"

    click.echo(label(graph.root))
    arrow = "<-" if up else "->"
    for edge in graph.edges:
        other, this = (edge["from"], edge["to"]) if up else (edge["to"], edge["from"])
        click.echo(f"  {label(this)} {arrow}[{edge['kind']}] {label(other)}")


@cli.command()
@click.option("--no-verify", is_flag=True, help="Skip re-hashing every object.")
@json_option
@_handles_errors
def fsck(no_verify: bool, as_json: bool) -> None:
    """Check that every ref, commit and object is present and intact."""
    with _hub() as hub:
        report = hub.fsck(verify=not no_verify, progress=_progress)
    if as_json:
        _emit_json({"ok": report.ok, **report.__dict__})
    else:
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        click.echo(
            f"{'ok' if report.ok else 'PROBLEMS FOUND'}: {report.commits} commits, {report.objects} objects checked"
            + (f", {len(report.stray)} stray file(s) for gc" if report.stray else "")
        )
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.option(
    "--grace", type=float, default=3600, show_default=True, help="Keep anything younger (seconds)."
)
@json_option
@_handles_errors
def gc(grace: float, as_json: bool) -> None:
    """Remove commits and objects nothing reaches."""
    with _hub() as hub:
        report = hub.gc(grace_seconds=grace)
    if as_json:
        _emit_json(report)
        return
    click.echo(
        f"removed {report.commits_removed} commits, {report.objects_removed} objects "
        f"({human_size(report.bytes_removed)}), {report.stray_removed} stray files; "
        f"rewrote {report.packs_rewritten} packs"
    )
    if report.objects_skipped:
        click.echo("objects were left alone: other writers are active; run gc again later.")


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
        _emit_json([r.to_json() for r in results])
        return
    for result in results:
        click.echo(_stage_line(result))


@cli.command()
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
@_handles_errors
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
    from .pipeline.spec import load_pipeline
    from .pipeline.workers import start_workers

    pipeline = load_pipeline(project)
    # first of all, so that papermill's import overlaps even the imports of the runner and hub
    with start_workers(pipeline, list(stages), 0 if dry_run else jobs) as workers, _hub() as hub:
        from .pipeline.runner import PipelineRunner, RunOptions

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


def _pipeline_status(as_json: bool) -> None:
    from .pipeline.runner import PipelineRunner
    from .pipeline.spec import load_pipeline

    pipeline = load_pipeline(".")
    with _hub() as hub:
        _show_stages(PipelineRunner(hub, pipeline).plan(), as_json)


@cli.command()
@project_option
@json_option
@_handles_errors
def dag(project: str, as_json: bool) -> None:
    """The pipeline's stages in dependency order, with what each reads and writes."""
    from .pipeline.spec import load_pipeline

    pipeline = load_pipeline(project)
    stages = [pipeline.stages[name].describe() for name in pipeline.order()]
    if as_json:
        _emit_json(stages)
        return
    for stage in stages:
        after = f"  (after {', '.join(stage['upstream'])})" if stage["upstream"] else ""
        click.echo(f"{stage['name']}: {stage['notebook']}{after}")
        for name, source in stage["inputs"].items():
            click.echo(f"  <- {name} = {source}")
        for name, target in stage["outputs"].items():
            click.echo(f"  -> {name} = {target['to']} (from {target['from']})")


# -- sweeps -------------------------------------------------------------------------------
class SweepGroup(click.Group):
    """``assethub sweep FILE.yaml`` runs a sweep; ``assethub sweep status …`` shows one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=SweepGroup)
def sweep() -> None:
    """Hyperparameter sweeps: 'assethub sweep FILE.yaml' runs or resumes one."""


@sweep.command(name="run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workers", type=int, default=None, help="Worker processes (default: the file's).")
@click.option("--trials", type=int, default=None, help="Trial budget (default: the file's).")
@json_option
@_handles_errors
def sweep_run(file: str, workers: int | None, trials: int | None, as_json: bool) -> None:
    """Run the sweep in FILE, or resume it: finished trials are kept, the budget holds."""
    from .sweeps.engine import run_sweep

    result = run_sweep(file, workers=workers, trials=trials, progress=_progress)
    if as_json:
        _emit_json(result.__dict__)
        return
    _table(sweep_rows(result.trials), SWEEP_HEADER)
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
@_handles_errors
def sweep_status_command(
    file: str | None, study: str | None, storage: str | None, as_json: bool
) -> None:
    """The trials of a sweep: number, state, value, best step, branch, params."""
    from .sweeps.engine import sweep_status

    status = sweep_status(file, study=study, storage=storage)
    if as_json:
        _emit_json(status)
        return
    click.echo(
        f"study {status['study']} on {status['model']} ({status['algorithm']}, {status['direction']} {status['metric']})"
    )
    _table(sweep_rows(status["trials"]), SWEEP_HEADER)


@cli.command()
@click.argument("folder")
@click.argument("principal")
@click.argument("level", type=click.Choice(["read", "run", "edit", "none"]))
@_handles_errors
def share(folder: str, principal: str, level: str) -> None:
    """Grant a user, @group (or * for everyone) read, run or edit on a folder; 'none' revokes."""
    with _hub() as hub:
        grants = hub.share(folder, principal, None if level == "none" else level)
    for who, what in sorted(grants.items()):
        click.echo(f"{who}: {what}")


def _add_team_commands() -> None:
    """remote, push, pull, clone and group live in ``cli_team`` (which imports this module)."""
    from .cli_team import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_team_commands()

if __name__ == "__main__":
    main()
