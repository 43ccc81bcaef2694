"""Reading history: log, show, diff and lineage graphs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from .context import HubContext, asset_path
from .errors import InvalidInput, NotFound
from .names import check_tree_path, parse_asset_path
from .paging import check_limit, decode_cursor, encode_cursor
from .tree import Tree, TreeChange, changes_after, diff_trees

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import CommitRow

MAX_LINEAGE_DEPTH = 50
MAX_PATCH_TEXT = 256 * 1024
"""How much of a stored patch of uncommitted changes a diff carries as text."""
_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)
Edge = tuple[str, str, str]
"""(from, to, kind): ``from`` made ``to``, as an ``input`` or as its ``parent``."""


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    changes: list[TreeChange]
    params: dict[str, tuple[Any, Any]]
    metrics: dict[str, tuple[Any, Any]]
    code: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)
    """Each side's code: its git commit, remote, dirtiness and stored patch (see ``code_of``)."""


@dataclass
class LineageGraph:
    """Nodes are commits; edges say ``input`` (used to make) or ``parent`` (came from).

    A hub keeps the graphs it made and hands the same one to later calls while nothing was
    written: read it, never change it.
    """

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, str]] = field(default_factory=list)


LineageKey = tuple[str, bool, bool, int]
"""What a lineage graph is of: (start commit, upstream, downstream, depth)."""


@dataclass(frozen=True)
class KeptLineage:
    """A graph as made when the hub had committed ``writes`` write transactions."""

    writes: int
    graph: LineageGraph

    @property
    def weight(self) -> int:
        return len(self.graph.nodes) + len(self.graph.edges)


def _side_by_side(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))}


class HistoryOps(HubContext):
    def log(self, ref: str, limit: int | None = None) -> list[CommitRow]:
        """Commits reachable from ``ref``, newest first (a dataset's draft logs from its base)."""
        if limit is not None and limit < 1:
            raise InvalidInput("-n must be at least 1.")
        with self.meta.read() as conn:
            resolved = self._resolve(conn, ref)
            head = resolved.commit_id
            if head is None:
                head = self.catalog.require_draft(conn, resolved.asset.id).base_commit
                if head is None:
                    return []
            return self.meta.ancestors(conn, [head], limit)

    def show(self, ref: str) -> dict[str, Any]:
        """A commit with its refs, tree summary, lineage, and the evaluations attached to it."""
        resolved, commit = self.resolve_commit(ref)
        with self.meta.read() as conn:
            names = [
                r.name
                for r in self.catalog.list_refs(conn, resolved.asset.id)
                if r.commit_id == commit.id
            ]
            children = self.meta.get_commits(
                conn, [child for _, child in self.meta.children_of(conn, [commit.id])]
            )
        evaluations = sorted(
            (c for c in children.values() if c.kind == "evaluation"), key=lambda c: c.created_at
        )
        tree = self.load_tree(commit.tree)
        return {
            "asset": str(resolved.path),
            "type": resolved.asset.type,
            "ref": resolved.ref,
            "commit": commit,
            "refs": names,
            "files": len(tree),
            "size": tree.total_size,
            "tree": tree,
            "evaluations": evaluations,
        }

    def tree_of(self, ref: str) -> tuple[CommitRow, Tree]:
        _, commit = self.resolve_commit(ref)
        return commit, self.load_tree(commit.tree)

    def diff(self, a: str, b: str) -> Diff:
        """Files added/removed/changed from ``a`` to ``b``, params and metrics side by side."""
        (ca, ta), (cb, tb) = self.tree_of(a), self.tree_of(b)
        return self._diff(a, b, ca, cb, diff_trees(ta, tb))

    def diff_page(
        self, a: str, b: str, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[Diff, str | None]:
        """``diff`` with one page of its file changes, and the cursor of the next page.

        The two trees are merged from the cursor's path on and the merge stops after the
        page, so a page costs the unchanged files before it, not the whole of both trees.
        """
        check_limit(limit)
        after = decode_cursor(cursor, "d", check_tree_path) if cursor else None
        (ca, ta), (cb, tb) = self.tree_of(a), self.tree_of(b)
        changes = list(islice(changes_after(ta, tb, after), limit + 1))
        more = len(changes) > limit
        page = changes[:limit]
        return self._diff(a, b, ca, cb, page), encode_cursor("d", page[-1].path) if more else None

    def _diff(
        self, a: str, b: str, ca: CommitRow, cb: CommitRow, changes: list[TreeChange]
    ) -> Diff:
        params = _side_by_side(ca.params, cb.params)
        metrics = _side_by_side(ca.metrics, cb.metrics)
        return Diff(a, b, changes, params, metrics, (self.code_of(ca), self.code_of(cb)))

    def code_of(self, commit: CommitRow) -> dict[str, Any] | None:
        """The git commit a commit was made at and its patch of uncommitted changes, as text.

        None when the code was not in git. The patch (stored at commit time, see
        ``lineage.capture_code``) is cut to ``MAX_PATCH_TEXT`` characters' worth of bytes;
        ``patch`` is None when there was none or its object is gone from the store.
        """
        code = commit.lineage.get("code")
        if not isinstance(code, dict):
            return None
        shown: dict[str, Any] = {k: code.get(k) for k in ("commit", "remote", "dirty")}
        shown.update(patch=None, patch_truncated=False)
        digest = code.get("patch")
        digest = digest if isinstance(digest, str) and _DIGEST.fullmatch(digest) else None
        if digest is not None and not self.objects.missing([digest]):
            data = self.objects.read_bytes(digest)
            shown["patch"] = data[:MAX_PATCH_TEXT].decode("utf-8", "replace")
            shown["patch_truncated"] = len(data) > MAX_PATCH_TEXT
        return shown

    def lineage(
        self, ref: str, *, up: bool = True, down: bool = False, depth: int = 10
    ) -> LineageGraph:
        """Walk inputs and parents upstream, consumers and children downstream.

        The graph is kept (per user, since what it shows depends on their access) with the
        hub's count of writes it was made at, and answered again while that count stands:
        any commit, ref, delete or grant since, from any process, is a write. The ref itself
        is resolved, and so checked for this user, on every call.
        """
        if not 1 <= depth <= MAX_LINEAGE_DEPTH:
            raise InvalidInput(f"--depth must be between 1 and {MAX_LINEAGE_DEPTH}.")
        with self.meta.read() as conn:
            resolved = self._resolve(conn, ref)
            if resolved.commit_id is not None:
                asked = (resolved.commit_id, up, down, depth)
                return self._kept_lineage(conn, resolved.writes, asked)
        start = self.resolve_commit(ref)[1].id  # a draft, snapshotted as any use of it is
        with self.meta.read() as conn:
            return self._kept_lineage(conn, self.meta.writes(conn), (start, up, down, depth))

    def _kept_lineage(self, conn: Connection, writes: int, asked: LineageKey) -> LineageGraph:
        """The graph kept for ``asked`` if the hub has not been written since; else made now."""
        key = (self.user, *asked)
        kept = self._lineage_graphs.get(key)
        if kept is not None and kept.writes == writes:
            return kept.graph
        graph = self._lineage_of(conn, *asked)
        self._lineage_graphs.put(key, KeptLineage(writes, graph))
        return graph

    def _lineage_of(
        self, conn: Connection, start: str, up: bool, down: bool, depth: int
    ) -> LineageGraph:
        """The walks from ``start``, with the refs naming each node now (one query, which
        also tells the nodes that exist from those named by a lineage but gone)."""
        walks = [self._walk(conn, start, depth if up else 0, upstream=True)]
        if down:
            walks.append(self._walk(conn, start, depth, upstream=False))
        nodes = {i: node for found, _ in walks for i, node in found.items()}
        edges = dict.fromkeys(edge for _, walked in walks for edge in walked)
        names = self.catalog.refs_naming(conn, list(nodes))
        if start not in names:
            raise NotFound(f"commit {start[:12]} does not exist.")
        readable = self._readable_assets(conn, nodes.values())
        return LineageGraph(
            start,
            {
                i: _labelled(node, names.get(i, []))
                if node.get("asset", "") in readable
                else _restricted(node)
                for i, node in nodes.items()
            },
            [{"from": src, "to": dst, "kind": kind} for src, dst, kind in edges],
        )

    def _readable_assets(self, conn: Connection, nodes: Iterable[dict[str, Any]]) -> set[str]:
        """The assets among ``nodes`` whose folders the caller may read: a walk crosses into
        other people's folders (a dataset used by a private model), and what it finds there
        is shown only as a commit id, never its asset, message or refs."""
        paths = {node["asset"] for node in nodes if "asset" in node}
        folders = {parse_asset_path(p).folder_path for p in paths}
        allowed = {
            folder
            for folder in folders
            if (row := self.catalog.folder(conn, folder.owner, folder.type, folder.folder))
            and self.can(conn, row, "read")
        }
        return {p for p in paths if parse_asset_path(p).folder_path in allowed}

    def _made_from(self, conn: Connection, ids: list[str]) -> list[Edge]:
        """The (from, to, kind) edges of commits made from ``ids``: consumers and children."""
        made = [(i, c, "input") for i, c in self.meta.consumers_of(conn, ids)]
        made += [(p, c, "parent") for p, c in self.meta.children_of(conn, ids)]
        return sorted(made)

    def _walk(
        self, conn: Connection, start: str, depth: int, *, upstream: bool
    ) -> tuple[dict[str, dict[str, Any]], list[Edge]]:
        """Breadth-first from ``start``, ``depth`` steps: nodes (without ref names), edges."""
        rows = self.meta.get_commits(conn, [start])
        nodes = self._nodes(conn, [start], rows)
        edges: dict[Edge, None] = {}
        frontier, seen = [start], {start}
        for _ in range(depth):
            if not frontier:
                break
            if upstream:
                pairs: list[Edge] = []
                for c in (rows[i] for i in frontier if i in rows):
                    pairs += [(i["commit"], c.id, "input") for i in c.lineage.get("inputs", [])]
                    pairs += [(p, c.id, "parent") for p in c.parents]
                nxt = [src for src, _, _ in pairs]
            else:
                pairs = self._made_from(conn, frontier)
                nxt = [dst for _, dst, _ in pairs]
            edges.update(dict.fromkeys(pairs))
            frontier = [n for n in dict.fromkeys(nxt) if n not in seen]
            seen.update(frontier)
            found = self.meta.get_commits(conn, frontier)
            rows.update(found)
            nodes.update(self._nodes(conn, frontier, found))
        return nodes, list(edges)

    def _nodes(
        self, conn: Connection, ids: list[str], found: dict[str, CommitRow]
    ) -> dict[str, dict[str, Any]]:
        """The nodes of ``ids`` (those not in ``found`` marked missing), without ref names."""
        assets: dict[int, str] = {}
        nodes: dict[str, dict[str, Any]] = {}
        for commit_id in ids:
            commit = found.get(commit_id)
            if commit is None:
                nodes[commit_id] = {"id": commit_id, "missing": True}
                continue
            if commit.asset_id not in assets:
                assets[commit.asset_id] = str(
                    asset_path(self.catalog.asset_by_id(conn, commit.asset_id))
                )
            nodes[commit_id] = {
                "id": commit_id,
                "asset": assets[commit.asset_id],
                "kind": commit.kind,
                "message": commit.message,
                "created_at": commit.created_at,
            }
        return nodes


def _restricted(node: dict[str, Any]) -> dict[str, Any]:
    """A node the caller may not read (or a missing one): its id and why it says no more."""
    if node.get("missing"):
        return dict(node)
    return {"id": node["id"], "restricted": True}


def _labelled(node: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A kept node with the names of the refs that point at it now (a new dict)."""
    if node.get("missing"):
        return dict(node)
    return {
        "id": node["id"],
        "asset": node["asset"],
        "kind": node["kind"],
        "refs": names,
        "message": node["message"],
        "created_at": node["created_at"],
    }
