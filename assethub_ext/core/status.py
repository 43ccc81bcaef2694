"""``assethub status``: what changed in a folder since it was added or checked out.

Answered from this machine's workspace index alone, like ``git status`` or ``dvc status``:
no hub database is opened and SQLAlchemy is never imported. For an unchanged folder it
costs one ``stat`` per file plus interpreter start-up: the stats are folded into one
digest and compared with the one ``add`` recorded (see ``scan.stat_stamp``), read from a
small stamp file, so neither SQLite, the tree nor the per-file index rows are touched.
Otherwise each file is compared with its index row, and files whose stat changed are
hashed, so a file merely touched is not reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .hashing import hash_file
from .names import parse_asset_path
from .scan import RawFile, source_roots, stat_stamp, walk
from .workspace_index import WorkspaceIndex, fresh_digest

if TYPE_CHECKING:
    from .tree import Tree, TreeChange


def workspace_status(
    path: str, sources: list[str], *, index: WorkspaceIndex, load_tree: Callable[[str], Tree]
) -> list[TreeChange]:
    asset = str(parse_asset_path(path))
    roots = source_roots(sources)
    found = {os.path.realpath(s): walk(s, as_contents=False) for s in sources}
    if all(_stamp_matches(index.stamp(asset, root), raw) for root, raw in found.items()):
        return []
    recorded: dict[str, tuple[str, int]] = {}
    for root, name in roots.items():
        tree = index.source(asset, root)
        if tree is not None:
            recorded.update((e.path, (e.digest, e.size)) for e in load_tree(tree).under(name))
    return _changes(recorded, _current(index, found))


def _stamp_matches(recorded: str | None, raw: list[RawFile]) -> bool:
    """Whether every stat equals what ``add`` saw (then nothing changed: no tree is read)."""
    if recorded is None:
        return False
    stamp = stat_stamp(raw)
    return stamp is not None and stamp.fingerprint == recorded


def _current(index: WorkspaceIndex, found: dict[str, list[RawFile]]) -> dict[str, tuple[str, int]]:
    """(digest, size) of every file found, from the index where its stat still matches."""
    current: dict[str, tuple[str, int]] = {}
    for root, raw in found.items():
        known = index.rows_between(root, root + "/\U0010ffff")
        for rel, file_path, size, mtime_ns, ctime_ns, ino, _ in raw:
            row = known.get(file_path)
            digest = fresh_digest(row, size, mtime_ns, ctime_ns, ino) if row else None
            current[rel] = (digest or hash_file(file_path, size), size)
    return current


def _changes(
    recorded: dict[str, tuple[str, int]], current: dict[str, tuple[str, int]]
) -> list[TreeChange]:
    from .tree import TreeChange  # only once something changed: an unchanged folder needs none

    changes = []
    for rel in sorted(recorded.keys() | current.keys()):
        before, after = recorded.get(rel), current.get(rel)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        changes.append(
            TreeChange(rel, status, before[1] if before else None, after[1] if after else None)
        )
    return changes
