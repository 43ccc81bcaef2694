"""The hub itself: ``init``, ``fsck`` and ``gc``."""

from __future__ import annotations

import sys

import click

from ..views import human_size
from ._common import (
    emit_json,
    handles_errors,
    json_option,
    open_hub,
    progress,
)


@click.command()
@handles_errors
def init() -> None:
    """Create (or upgrade) the hub named by ASSETHUB_HOME / ASSETHUB_DB."""
    with open_hub() as hub:
        click.echo(f"hub ready at {hub.init()}")


@click.command()
@click.option("--no-verify", is_flag=True, help="Skip re-hashing every object.")
@json_option
@handles_errors
def fsck(no_verify: bool, as_json: bool) -> None:
    """Check that every ref, commit and object is present and intact."""
    with open_hub() as hub:
        report = hub.fsck(verify=not no_verify, progress=progress)
    if as_json:
        emit_json({"ok": report.ok, **report.__dict__})
    else:
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        click.echo(
            f"{'ok' if report.ok else 'PROBLEMS FOUND'}: {report.commits} commits, {report.objects} objects checked"
            + (f", {len(report.stray)} stray file(s) for gc" if report.stray else "")
        )
    if not report.ok:
        sys.exit(1)


@click.command()
@click.option(
    "--grace", type=float, default=3600, show_default=True, help="Keep anything younger (seconds)."
)
@json_option
@handles_errors
def gc(grace: float, as_json: bool) -> None:
    """Remove commits and objects nothing reaches."""
    with open_hub() as hub:
        report = hub.gc(grace_seconds=grace)
    if as_json:
        emit_json(report)
        return
    click.echo(
        f"removed {report.commits_removed} commits, {report.objects_removed} objects "
        f"({human_size(report.bytes_removed)}), {report.stray_removed} stray files; "
        f"rewrote {report.packs_rewritten} packs"
    )
    if report.objects_skipped:
        click.echo("objects were left alone: other writers are active; run gc again later.")
