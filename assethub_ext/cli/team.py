"""The team commands of ``assethub``: remotes, push, pull, clone and groups.

Thin, like the rest of the command: each reads its arguments, calls one ``Hub`` method and
prints the result.
"""

from __future__ import annotations

from typing import Any

import click

from ._common import emit_json, handles_errors, json_option, open_hub, progress


@click.group()
def remote() -> None:
    """Other hubs to push to and pull from, each a database URL and a store URL."""


@remote.command(name="add")
@click.argument("name")
@click.option("--db", required=True, help="postgresql://… or sqlite:////path/hub.sqlite")
@click.option("--store", required=True, help="s3://bucket/prefix or an absolute folder")
@handles_errors
def remote_add(name: str, db: str, store: str) -> None:
    """Name another hub (saved in this hub's remotes.json, readable only by you)."""
    with open_hub() as hub:
        hub.remotes.add(name, db, store)
    click.echo(f"remote '{name}' added")


@remote.command(name="rm")
@click.argument("name")
@handles_errors
def remote_rm(name: str) -> None:
    """Forget a saved remote."""
    with open_hub() as hub:
        hub.remotes.remove(name)
    click.echo(f"remote '{name}' removed")


@remote.command(name="ls")
@json_option
@handles_errors
def remote_ls(as_json: bool) -> None:
    """The saved remotes."""
    with open_hub() as hub:
        found = [{"name": r.name, "db": r.db, "store": r.store} for r in hub.remotes.list()]
    if as_json:
        emit_json(found)
        return
    for entry in found:
        click.echo(f"{entry['name']}\t{entry['db']}\t{entry['store']}")


def _report(report: Any, as_json: bool) -> None:
    if as_json:
        emit_json(report)
        return
    for ref in report.refs:
        if ref["status"] != "up-to-date":
            click.echo(f"{ref['asset']}:{ref['ref']}  {ref['status']}  {ref['to'][:12]}")
    click.echo(
        f"{len(report.assets)} asset(s): {report.commits} commit(s), "
        f"{report.objects} object(s) sent ({report.bytes} bytes of files)"
    )


def _transfer_command(verb: str, summary: str) -> click.Command:
    """``push`` or ``pull``: the same arguments, calling the ``Hub`` method of that name."""

    @click.command(name=verb, help=summary)
    @click.argument("name")
    @click.argument("paths", nargs=-1)
    @click.option("--force", is_flag=True, help="Overwrite a diverged branch.")
    @json_option
    @handles_errors
    def command(name: str, paths: tuple[str, ...], force: bool, as_json: bool) -> None:
        with open_hub() as hub:
            method = hub.push if verb == "push" else hub.pull
            _report(method(name, paths, force=force, progress=progress), as_json)

    return command


push = _transfer_command(
    "push", "Send assets (an asset, a folder, or all you may read) to remote NAME."
)
pull = _transfer_command(
    "pull", "Bring assets (an asset, a folder, or all you may read) from remote NAME."
)


@click.command()
@click.option("--db", required=True, help="The remote hub's database URL.")
@click.option("--store", required=True, help="The remote hub's object store URL.")
@click.argument("home", type=click.Path(file_okay=False))
@click.argument("paths", nargs=-1)
@json_option
@handles_errors
def clone(db: str, store: str, home: str, paths: tuple[str, ...], as_json: bool) -> None:
    """Make a new embedded hub in HOME from a remote (saved there as 'origin')."""
    from ..core.hub import Hub

    _report(Hub.clone(home, db, store, paths=paths, progress=progress), as_json)


@click.group()
def group() -> None:
    """Groups of users, for grants to @GROUP (kept in the hub; changed by their owner)."""


@group.command(name="add")
@click.argument("name")
@click.argument("users", nargs=-1, required=True)
@handles_errors
def group_add(name: str, users: tuple[str, ...]) -> None:
    """Add USERS to group NAME (created, owned by you, if new)."""
    with open_hub() as hub:
        info = hub.group_add(name, list(users))
    click.echo(f"@{info['group']}: {', '.join(info['members'])}")


@group.command(name="rm")
@click.argument("name")
@click.argument("users", nargs=-1)
@handles_errors
def group_rm(name: str, users: tuple[str, ...]) -> None:
    """Remove USERS from group NAME; with no USERS, delete the group and its grants."""
    with open_hub() as hub:
        info = hub.group_rm(name, list(users))
    click.echo(f"@{name}: {', '.join(info['members'])}" if info else f"group '{name}' deleted")


@group.command(name="ls")
@json_option
@handles_errors
def group_ls(as_json: bool) -> None:
    """Every group, its owner and its members."""
    with open_hub() as hub:
        groups = hub.group_ls()
    if as_json:
        emit_json(groups)
        return
    for entry in groups:
        click.echo(f"@{entry['group']} ({entry['owner']}): {', '.join(entry['members'])}")
