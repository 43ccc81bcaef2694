"""The JSON shapes of the API (described in ``openapi.yaml``), made from the core's results.

A commit reads the same as in the CLI's ``--json`` (``assethub_ext.views``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..views import commit_dict as commit

if TYPE_CHECKING:
    from ..core.history import Diff, LineageGraph
    from ..core.paging import Page
    from ..core.tree import TreeEntry
    from ..storage.metadata import CommitRow


def entry(row: TreeEntry) -> dict[str, Any]:
    return {"path": row.path, "digest": row.digest, "size": row.size, "mode": row.mode}


def log_page(page: Page[CommitRow]) -> dict[str, Any]:
    return {"commits": [commit(c) for c in page.items], "next": page.next}


def tree_page(head: CommitRow, page: Page[TreeEntry]) -> dict[str, Any]:
    return {
        "commit": head.id,
        "files": [entry(e) for e in page.items],
        "total": page.total,
        "next": page.next,
    }


def show(info: dict[str, Any]) -> dict[str, Any]:
    """A commit's detail without its tree, which is paged separately."""
    shown = {k: v for k, v in info.items() if k != "tree"}
    shown["commit"] = commit(info["commit"])
    shown["evaluations"] = [commit(c) for c in info["evaluations"]]
    return shown


def diff(result: Diff, next_cursor: str | None) -> dict[str, Any]:
    return {
        "a": result.a,
        "b": result.b,
        "changes": [asdict(c) for c in result.changes],
        "next": next_cursor,
        "params": {k: list(v) for k, v in result.params.items()},
        "metrics": {k: list(v) for k, v in result.metrics.items()},
        "code": {"a": result.code[0], "b": result.code[1]},
    }


def lineage(graph: LineageGraph) -> dict[str, Any]:
    return {"root": graph.root, "nodes": list(graph.nodes.values()), "edges": graph.edges}
