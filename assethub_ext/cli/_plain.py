"""What the ``assethub`` command does without click: one-line errors, and plain ``status``.

``status`` is the hot command: people and scripts run it all the time, on folders of tens
of thousands of files, and importing click costs about as much as stat-ing 10,000 of them.
So ``main`` answers the plain form ``status PATH SOURCE… [--json]`` here and hands every
other command line (options it does not know, ``--help``, ``status`` with no arguments for
a pipeline, usage errors) to click, whose ``status`` command calls ``show_status`` too: one
implementation, two ways in.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..views import change_line, json_text

if TYPE_CHECKING:
    from ..core.errors import AssetHubError
    from ..core.tree import Tree

INTERRUPTED = 130


def one_line(message: str) -> str:
    """A message that cannot break the one-line-per-error promise."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def report_error(err: AssetHubError) -> int:
    """Say why the hub refused, in one line on stderr; return the exit code for it."""
    print(f"error: {one_line(str(err))}", file=sys.stderr)
    return err.exit_code


def report_interrupt() -> int:
    print("interrupted: nothing half-done was kept.", file=sys.stderr)
    return INTERRUPTED


def show_status(path: str, sources: list[str], as_json: bool) -> None:
    """What changed in ``sources`` since they were added to ``path``; no database is opened."""
    from ..core.config import HubConfig
    from ..core.status import workspace_status
    from ..core.workspace_index import WorkspaceIndex

    config = HubConfig.from_env()
    index = WorkspaceIndex(config.workspace_index)

    def load_tree(digest: str) -> Tree:
        """Opened only when the folder changed: an unchanged one needs no tree."""
        from ..core.tree import Tree
        from ..storage.local import LocalObjectStore

        store = LocalObjectStore(config.store)
        try:
            return Tree.decode(store.read_bytes(digest))
        finally:
            store.close()

    try:
        changes = workspace_status(path, sources, index=index, load_tree=load_tree)
    finally:
        index.close()
    if not changes and not as_json:
        print("up to date")
        return
    print_changes(changes, as_json)


def print_changes(changes: list[Any], as_json: bool) -> None:
    """Files added, removed and changed, a line each or as JSON (``status`` and ``diff``)."""
    if as_json:
        print(json_text(changes))
        return
    for change in changes:
        print(change_line(change))


def plain_status(argv: list[str]) -> tuple[str, list[str], bool] | None:
    """(path, sources, as_json) if ``argv`` is ``status PATH SOURCE… [--json]`` and nothing
    else; ``None`` for any command line that click should read."""
    if argv[:1] != ["status"]:
        return None
    words = [word for word in argv[1:] if word != "--json"]
    if len(words) < 2 or any(word.startswith("-") for word in words):
        return None
    return words[0], words[1:], len(words) < len(argv) - 1


def run_plain(argv: list[str]) -> int | None:
    """The exit code of a command answered here, or ``None`` to hand it to click."""
    plain = plain_status(argv)
    if plain is None:
        return None
    from ..core.errors import AssetHubError

    try:
        show_status(*plain)
    except AssetHubError as err:
        return report_error(err)
    except KeyboardInterrupt:
        return report_interrupt()
    return 0
