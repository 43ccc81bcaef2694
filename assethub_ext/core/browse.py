"""Browsing a hub page by page: what a panel or any API client needs, bounded per call.

Every listing here returns a ``Page`` with an opaque cursor, so that a history of 10,000
commits or a commit of 100,000 files costs one page of work per call, not the whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .context import HubContext, Resolved, asset_path, folder_path
from .errors import InvalidInput, NotFound
from .hashing import HEX_LENGTH
from .names import (
    AssetPath,
    check_asset_type,
    check_segment,
    check_tree_path,
    parse_asset_path,
    parse_folder_path,
)
from .paging import CURSOR_REFUSED, Page, check_limit, decode_cursor, encode_cursor
from .tree import TreeEntry

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import AssetRow, CommitRow

_FULL_ID = re.compile(f"[0-9a-f]{{{HEX_LENGTH}}}", re.ASCII)
MAX_SEARCH_TEXT = 200
MAX_FRONTIER = 64
"""A log cursor holds the commits its walk goes on from: one on a line of history, a few
where branches were merged; more than this was not made by us."""


@dataclass(frozen=True)
class FileBlob:
    """One file of a commit, ready to stream: ``read(start, end)`` yields its bytes."""

    commit_id: str
    path: str
    digest: str
    size: int
    mode: int
    read: Callable[[int, int], Iterator[bytes]]


class BrowseOps(HubContext):
    # -- assets ----------------------------------------------------------------------------
    def find_assets(
        self,
        *,
        owner: str | None = None,
        type: str | None = None,
        folder: str | None = None,
        text: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[dict[str, Any]]:
        """Assets you may read, in path order, filtered by owner, type, folder and text."""
        check_limit(limit)
        filters: dict[str, Any] = {
            "owner": check_segment(owner, "owner") if owner is not None else None,
            "type_": check_asset_type(type) if type is not None else None,
            "folder": check_segment(folder, "folder") if folder is not None else None,
            "text": _search_text(text),
        }
        after = _asset_key(decode_cursor(cursor, "a", parse_asset_path)) if cursor else None
        items: list[dict[str, Any]] = []
        exhausted = False
        with self.meta.read() as conn:
            while len(items) < limit and not exhausted:
                batch = self.catalog.find_assets(conn, **filters, after=after, limit=limit)
                exhausted = len(batch) < limit
                for asset in batch:
                    after = _asset_key(asset_path(asset))
                    if self.can(conn, asset.folder, "read"):
                        items.append(self._asset_summary(conn, asset))
                    if len(items) == limit:
                        exhausted = exhausted and asset is batch[-1]
                        break
        last = items[-1]["path"] if items else None
        return Page(items, encode_cursor("a", last) if last and not exhausted else None)

    def _asset_summary(self, conn: Connection, asset: AssetRow) -> dict[str, Any]:
        refs = self.catalog.list_refs(conn, asset.id)
        versions = sorted((r.name for r in refs if r.kind == "version"), key=lambda n: int(n[1:]))
        return {
            "path": str(asset_path(asset)),
            "kind": "asset",
            "type": asset.type,
            "owner": asset.folder.owner,
            "description": asset.description,
            "latest": versions[-1] if versions else None,
            "branches": [r.name for r in refs if r.kind == "branch"],
            "tags": [r.name for r in refs if r.kind == "tag"],
        }

    def refs(self, path: str) -> dict[str, Any]:
        """An asset's refs (published versions, branches, tags) and, for a dataset, its draft."""
        target = parse_asset_path(path)
        with self.meta.read() as conn:
            return self._refs_info(conn, self._asset(conn, target), target)

    def _refs_info(self, conn: Connection, asset: AssetRow, target: AssetPath) -> dict[str, Any]:
        refs = self.catalog.list_refs(conn, asset.id)
        heads = self.meta.get_commits(conn, sorted({r.commit_id for r in refs}))
        info: dict[str, Any] = {
            "path": str(target),
            "type": asset.type,
            "access": self.access(conn, asset.folder),
            "refs": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "commit": r.commit_id,
                    "published": r.kind in ("version", "latest"),
                    "message": heads[r.commit_id].message,
                    "created_at": heads[r.commit_id].created_at,
                    "derived_from": heads[r.commit_id].meta.get("derived_from"),
                }
                for r in refs
            ],
            "draft": None,
        }
        if asset.type == "dataset":
            draft = self.catalog.require_draft(conn, asset.id)
            base = self.meta.get_commits(conn, [draft.base_commit]) if draft.base_commit else {}
            info["draft"] = {
                "revision": draft.revision,
                "base": draft.base_commit,
                "base_version": next(
                    (
                        r.name
                        for r in refs
                        if r.kind == "version" and r.commit_id == draft.base_commit
                    ),
                    None,
                ),
                "unpublished_changes": not base
                or not self.same_files(conn, base[draft.base_commit or ""].tree, draft.tree),
                "updated_at": draft.updated_at,
                "updated_by": draft.updated_by,
            }
        return info

    def resolve(self, ref: str) -> Resolved:
        """What ``ref`` names, checked as any read is (its folder readable by this user).

        A few indexed lookups, no commit or tree loaded: the server calls it to check a
        user's access before answering from its cache; ``kind == "commit"`` with the full id
        given (not a prefix, not a branch that happens to look like one) tells it the
        answer cannot change.
        """
        with self.meta.read() as conn:
            return self._resolve(conn, ref)

    # -- history ---------------------------------------------------------------------------
    def log_page(
        self, ref: str | Resolved, *, limit: int = 100, cursor: str | None = None
    ) -> Page[CommitRow]:
        """One page of ``log``: newest first, continued by the returned cursor."""
        check_limit(limit)
        with self.meta.read() as conn:
            resolved = self._resolved(conn, ref)
            frontier = decode_cursor(cursor, "l", _commit_ids) if cursor is not None else None
            if frontier is None:
                head = resolved.commit_id
                if head is None:
                    head = self.catalog.require_draft(conn, resolved.asset.id).base_commit
                frontier = [head] if head else []
            walked = self.meta.walk_newest_first(conn, frontier, limit, asset_id=resolved.asset.id)
        if walked is None:
            raise InvalidInput(CURSOR_REFUSED)
        commits, rest = walked
        return Page(commits, encode_cursor("l", ",".join(rest)) if rest else None)

    def tree_page(
        self, ref: str | Resolved, *, prefix: str = "", limit: int = 100, cursor: str | None = None
    ) -> tuple[CommitRow, Page[TreeEntry]]:
        """The commit ``ref`` names and one page of its files (those under folder ``prefix``)."""
        check_limit(limit)
        folder = check_tree_path(prefix.rstrip("/")) + "/" if prefix else ""
        after = decode_cursor(cursor, "t", check_tree_path) if cursor else None
        _, commit = self.resolve_commit(ref)
        tree = self.load_tree(commit.tree)
        entries = tree.page(after=after, limit=limit, prefix=folder)
        more = bool(entries) and bool(tree.page(after=entries[-1].path, limit=1, prefix=folder))
        cursor_out = encode_cursor("t", entries[-1].path) if more else None
        return commit, Page(entries, cursor_out, tree.count_under(folder))

    def open_file(self, ref: str, path: str) -> FileBlob:
        """One file of a commit, to be streamed whole or in ranges."""
        name = check_tree_path(path)
        resolved, commit = self.resolve_commit(ref)
        entry = self.load_tree(commit.tree).get(name)
        if entry is None:
            raise NotFound(f"'{name}' is not a file of {resolved.path}:{resolved.ref}.")

        def read(start: int, end: int) -> Iterator[bytes]:
            if not 0 <= start <= end <= entry.size:
                raise InvalidInput(
                    f"byte range {start}-{end} is outside the file's {entry.size} bytes."
                )
            return self.objects.read_range(entry.digest, start, end)

        return FileBlob(commit.id, name, entry.digest, entry.size, entry.mode, read)

    def generation(self) -> str:
        """A short token that changes whenever anything in the hub changes (from any process).

        Front ends poll it to refresh after a CLI command, another kernel or a pipeline run.
        It says only that something changed, never what, so anyone signed in may ask. Made
        from the hub's count of writes: one indexed read (the counts and latest times of
        every table it was made from before took 0.7 ms at 10,000 commits, and growing).
        """
        with self.meta.read() as conn:
            writes = self.meta.writes(conn)
        return hashlib.blake2b(str(writes).encode(), digest_size=8).hexdigest()

    # -- sharing ---------------------------------------------------------------------------
    def grants(self, path: str) -> dict[str, Any]:
        """Who may do what in a folder; anyone who may read the folder may see this."""
        target = parse_folder_path(path)
        with self.meta.read() as conn:
            folder = self._folder(conn, target)
            self._authorize(conn, folder, "read")
            granted = self.catalog.grants_for(conn, folder.id)
        return {
            "folder": str(folder_path(folder)),
            "owner": folder.owner,
            "grants": [{"principal": p, "level": granted[p]} for p in sorted(granted)],
        }


def _commit_ids(text: str) -> list[str]:
    ids = text.split(",")
    if len(ids) > MAX_FRONTIER or not all(_FULL_ID.fullmatch(i) for i in ids):
        raise InvalidInput(CURSOR_REFUSED)
    return ids


def _asset_key(path: AssetPath) -> tuple[str, str, str, str]:
    return (path.owner, path.type, path.folder, path.name)


def _search_text(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if len(text) > MAX_SEARCH_TEXT:
        raise InvalidInput(f"search text is longer than {MAX_SEARCH_TEXT} characters.")
    return text.strip()
