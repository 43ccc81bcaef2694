"""Folders, assets and who may use them: ``create``, ``ls``, ``delete``, ``share``."""

from __future__ import annotations

from typing import Any

import click

from ..views import when
from ._common import (
    emit_json,
    handles_errors,
    json_option,
    open_hub,
    table,
)


@click.command()
@click.argument("path")
@click.option("-d", "--description", default="", help="What the asset holds.")
@handles_errors
def create(path: str, description: str) -> None:
    """Create a folder (owner/type/folder) or an asset (owner/type/folder/name)."""
    with open_hub() as hub:
        click.echo(hub.create(path, description))


@click.command(name="ls")
@click.argument("prefix", default="")
@json_option
@handles_errors
def ls_command(prefix: str, as_json: bool) -> None:
    """List folders, the assets of a folder, or describe one asset."""
    with open_hub() as hub:
        items = hub.ls(prefix)
    if as_json:
        emit_json(items)
    elif len(items) == 1 and "refs" in items[0]:
        _describe(items[0])
    elif items and items[0]["kind"] == "folder":
        table([[i["path"], i["type"], str(i["assets"])] for i in items], ["PATH", "TYPE", "ASSETS"])
    else:
        rows = [
            [i["path"], i["type"], i["latest"] or ",".join(i["branches"]) or "-"] for i in items
        ]
        table(rows, ["PATH", "TYPE", "LATEST"])


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
    table(rows, ["REF", "KIND", "COMMIT", "TIME (UTC)", "FROM", "MESSAGE"])
    draft = info.get("draft")
    if draft:
        state = "unpublished changes" if draft["unpublished_changes"] else "no unpublished changes"
        click.echo(
            f"draft: revision {draft['revision']}, based on {draft['base_version'] or 'nothing'}, {state}"
        )


@click.command()
@click.argument("path")
@click.option("--force", is_flag=True, help="Delete even if other assets depend on it.")
@handles_errors
def delete(path: str, force: bool) -> None:
    """Delete an asset or a folder."""
    with open_hub() as hub:
        click.echo(f"deleted {hub.delete(path, force=force)}")


@click.command()
@click.argument("folder")
@click.argument("principal")
@click.argument("level", type=click.Choice(["read", "run", "edit", "none"]))
@handles_errors
def share(folder: str, principal: str, level: str) -> None:
    """Grant a user, @group (or * for everyone) read, run or edit on a folder; 'none' revokes."""
    with open_hub() as hub:
        grants = hub.share(folder, principal, None if level == "none" else level)
    for who, what in sorted(grants.items()):
        click.echo(f"{who}: {what}")
