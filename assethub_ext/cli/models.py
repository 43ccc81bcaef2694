"""Model history: ``commit``, ``branch``, ``tag`` and ``merge``."""

from __future__ import annotations

from typing import Any

import click

from ..commit_options import commit_values
from ..views import when
from ._common import (
    emit_json,
    handles_errors,
    json_option,
    open_hub,
    progress,
    table,
)


@click.command()
@click.argument("ref")
@click.argument("source", type=click.Path())
@click.option(
    "--input", "inputs", multiple=True, help="An asset ref this was made from, repeatable."
)
@handles_errors
@commit_values
def commit(ref: str, source: str, inputs: tuple[str, ...], values: dict[str, Any]) -> None:
    """Commit the contents of SOURCE as the new head of PATH:BRANCH."""
    with open_hub() as hub:
        done = hub.commit(ref, source, inputs=list(inputs), progress=progress, **values)
    click.echo(f"{ref}  {done.id[:12]}")


@click.group()
def branch() -> None:
    """Create, list and delete model branches."""


@branch.command(name="create")
@click.argument("ref")
@click.argument("name")
@handles_errors
def branch_create(ref: str, name: str) -> None:
    """Create branch NAME at REF."""
    with open_hub() as hub:
        commit_id = hub.branch_create(ref, name)
    click.echo(f"{name} -> {commit_id[:12]}")


@branch.command(name="list")
@click.argument("path")
@json_option
@handles_errors
def branch_list(path: str, as_json: bool) -> None:
    """The branches of a model."""
    with open_hub() as hub:
        branches = hub.branch_list(path)
    if as_json:
        emit_json(branches)
        return
    table(
        [[b["name"], b["commit"][:12], when(b["updated_at"]), b["message"][:50]] for b in branches],
        ["BRANCH", "HEAD", "UPDATED (UTC)", "MESSAGE"],
    )


@branch.command(name="delete")
@click.argument("path")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even if its commits become unreachable.")
@handles_errors
def branch_delete(path: str, name: str, force: bool) -> None:
    """Delete branch NAME of the model at PATH."""
    with open_hub() as hub:
        commit_id = hub.branch_delete(path, name, force=force)
    click.echo(f"deleted {name} (was {commit_id[:12]})")


@click.command()
@click.argument("ref")
@click.argument("name")
@handles_errors
def tag(ref: str, name: str) -> None:
    """Name REF's commit forever."""
    with open_hub() as hub:
        commit_id = hub.tag(ref, name)
    click.echo(f"{name} -> {commit_id[:12]}")


@click.command()
@click.argument("path")
@click.argument("source")
@click.option("--into", default="main", show_default=True, help="The branch to merge into.")
@click.option(
    "--strategy", type=click.Choice(["ours", "theirs"]), default=None, help="Resolve conflicts."
)
@click.option("-m", "--message", default="")
@handles_errors
def merge(path: str, source: str, into: str, strategy: str | None, message: str) -> None:
    """Merge SOURCE into a branch: fast-forward when possible, else a merge commit."""
    from ..core.errors import MergeConflict

    with open_hub() as hub:
        try:
            result = hub.merge(path, source, into=into, strategy=strategy, message=message)
        except MergeConflict as conflict:
            for conflicted in conflict.paths:
                click.echo(f"conflict: {conflicted}", err=True)
            raise
    click.echo(f"{path}:{into}  {result.kind}  {result.commit_id[:12]}")
