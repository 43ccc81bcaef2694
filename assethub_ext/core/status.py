"""``assethub status``: what changed in a folder since it was added or checked out.

Answered from this machine's workspace index alone, like ``git status`` or ``dvc status``:
no hub database is opened and SQLAlchemy is never imported, so for an unchanged folder it
costs one ``stat`` per file plus interpreter start-up. Files whose stat changed are
hashed, so a file merely touched is not reported.
"""

from __future__ import annotations

from collections.abc import Callable

from .hashing import hash_file
from .names import parse_asset_path
from .scan import source_roots, walk
from .tree import Tree, TreeChange
from .workspace_index import WorkspaceIndex, fresh_digest


def workspace_status(
    path: str, sources: list[str], *, index: WorkspaceIndex, load_tree: Callable[[str], Tree]
) -> list[TreeChange]:
    asset = str(parse_asset_path(path))
    roots = source_roots(sources)
    recorded: dict[str, tuple[str, int]] = {}
    for root, name in roots.items():
        source = index.source(asset, root)
        if source is not None:
            recorded.update((e.path, (e.digest, e.size)) for e in load_tree(source[0]).under(name))
    current: dict[str, tuple[str, int]] = {}
    for root, source_path in zip(roots, sources, strict=True):
        known = index.rows_between(root, root + "/\U0010ffff")
        for rel, file_path, st in walk(source_path, as_contents=False):
            row = known.get(file_path)
            digest = (
                fresh_digest(row, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                if row
                else None
            )
            current[rel] = (digest or hash_file(file_path, st.st_size), st.st_size)
    return _changes(recorded, current)


def _changes(
    recorded: dict[str, tuple[str, int]], current: dict[str, tuple[str, int]]
) -> list[TreeChange]:
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
