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
from .scan import scan_sources
from .tree import Tree, TreeChange
from .workspace_index import WorkspaceIndex


def workspace_status(
    path: str, sources: list[str], *, index: WorkspaceIndex, load_tree: Callable[[str], Tree]
) -> list[TreeChange]:
    asset = str(parse_asset_path(path))
    files, roots = scan_sources(sources)
    recorded: dict[str, tuple[str, int]] = {}
    for root, name in roots.items():
        source = index.source(asset, root)
        if source is not None:
            recorded.update((e.path, (e.digest, e.size)) for e in load_tree(source[0]).under(name))
    known = index.known_digests(files)
    current = {f.rel: (known.get(f.path) or hash_file(f.path, f.size), f.size) for f in files}
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
