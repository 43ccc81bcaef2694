"""Dataset drafts and versions: ``add``, ``status``, ``rm``, ``publish``, ``derive``, ``restore``.

``status`` is the hot command: it opens no hub database and imports no SQLAlchemy, and this
module imports nothing it does not need, so that it starts in a few tens of milliseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..views import human_size
from ._common import (
    handles_errors,
    json_option,
    open_hub,
    progress,
)
from ._plain import show_status

if TYPE_CHECKING:
    from ..core.datasets import DraftChange


@click.command()
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
@handles_errors
def add(path: str, sources: tuple[str, ...], then_publish: bool, message: str, link: bool) -> None:
    """Add files or folders to a dataset's draft, each under its own name."""
    with open_hub() as hub:
        change = hub.add(path, list(sources), progress=progress, link=link)
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


@click.command()
@click.argument("path", required=False)
@click.argument("sources", nargs=-1, type=click.Path())
@json_option
@handles_errors
def status(path: str | None, sources: tuple[str, ...], as_json: bool) -> None:
    """What changed in SOURCES since they were last added to PATH (no database opened).

    With no arguments, in a pipeline project: which stages are up to date, and why the
    others are not.
    """
    if path is None:
        from .pipeline import pipeline_status

        pipeline_status(as_json)
        return
    if not sources:
        raise click.UsageError("give the SOURCES to compare with PATH (or no argument at all).")
    show_status(path, list(sources), as_json)


@click.command()
@click.argument("path")
@click.argument("files", nargs=-1, required=True)
@handles_errors
def rm(path: str, files: tuple[str, ...]) -> None:
    """Remove files or folders from a dataset's draft."""
    with open_hub() as hub:
        change = hub.rm(path, list(files))
    click.echo(f"{path}:draft  {len(change.changes)} removed")


@click.command()
@click.argument("path")
@click.option("-m", "--message", default="", help="What this version is.")
@handles_errors
def publish(path: str, message: str) -> None:
    """Freeze the draft as the next version (vN); prints PATH:vN."""
    with open_hub() as hub:
        click.echo(str(hub.publish(path, message)))


@click.command()
@click.argument("path")
@click.option("--from", "from_ref", required=True, help="The published version to start from.")
@click.option("--force", is_flag=True, help="Discard unpublished changes in the draft.")
@handles_errors
def derive(path: str, from_ref: str, force: bool) -> None:
    """Start the draft from any published version."""
    with open_hub() as hub:
        change = hub.derive(path, from_ref, force=force)
    click.echo(f"{path}:draft  now based on {from_ref} ({change.files} files)")


@click.command()
@click.argument("path")
@click.option("--from", "from_ref", required=True, help="The published version to restore from.")
@click.argument("files", nargs=-1, required=True)
@handles_errors
def restore(path: str, from_ref: str, files: tuple[str, ...]) -> None:
    """Bring files back into the draft from a published version."""
    with open_hub() as hub:
        change = hub.restore(path, from_ref, list(files))
    click.echo(f"{path}:draft  {len(change.changes)} restored from {from_ref}")
