"""Shared machinery of the Hub facade: stores, permissions, ref resolution, commits, trees.

The facade's operations live in mixins (datasets, models, history, maintenance) that all
stand on this class, so validation, permission checks and error messages exist once.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from .config import HubConfig
from .errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from .hashing import hash_bytes
from .lru import WeightedLRU
from .names import (
    DRAFT,
    MAIN,
    AssetPath,
    AssetRef,
    FolderPath,
    check_segment,
    looks_like_commit_prefix,
    parse_asset_path,
    parse_ref,
)
from .tree import Tree, TreeCache, is_legacy_encoding

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import AssetRow, Catalog, CommitRow, FolderRow, MetadataStore
    from ..storage.objects import ObjectStore, ObjectWriter
    from .history import KeptLineage
    from .workspace_index import WorkspaceIndex

LEVELS = {"read": 1, "run": 2, "edit": 3}
EVERYONE = "*"
H = TypeVar("H", bound="HubContext")
TREE_CACHE_ENTRIES = 300_000
"""Decoded trees kept in memory, counted in files (about 300 bytes each): enough for a few
commits of 100,000 files, so paging through one decodes it once."""
LINEAGE_CACHE_WEIGHT = 200_000
"""Lineage graphs kept in memory, counted in nodes and edges (a few hundred bytes each)."""


@dataclass(frozen=True)
class Resolved:
    """A ref resolved against the hub: the asset, what the ref named, and the commit."""

    asset: AssetRow
    ref: str
    kind: str  # "branch" | "tag" | "version" | "latest" | "commit" | "draft"
    commit_id: str | None
    writes: int
    """The hub's count of writes when it was resolved: what is read after is at least as new."""
    user: str
    """Whom it was resolved and checked for (reading)."""

    @property
    def path(self) -> AssetPath:
        return asset_path(self.asset)

    @property
    def text(self) -> str:
        """The ref as it names what it resolved to now (a commit by full id, not a prefix)."""
        return f"{self.path}:{self.ref}"


def asset_path(asset: AssetRow) -> AssetPath:
    folder = asset.folder
    return parse_asset_path(f"{folder.owner}/{folder.type}/{folder.name}/{asset.name}")


def folder_path(folder: FolderRow) -> FolderPath:
    return FolderPath(folder.owner, folder.type, folder.name)  # type: ignore[arg-type]


class HubContext:
    def __init__(
        self, home: str | None = None, *, user: str | None = None, config: HubConfig | None = None
    ) -> None:
        self.config = config or HubConfig.from_env(home=home, user=user)
        self.user = self.config.user
        self._trees = TreeCache(TREE_CACHE_ENTRIES)
        self._lineage_graphs: WeightedLRU[tuple[str, str, bool, bool, int], KeptLineage] = (
            WeightedLRU(LINEAGE_CACHE_WEIGHT, lambda kept: kept.weight)
        )

    def as_user(self: H, user: str) -> H:
        """This hub acted on by ``user``, sharing its open stores, tree and lineage caches.

        For a long-lived server: one hub is opened once and each request acts as its own
        user through a copy made here, which costs nothing. Close only the original.
        """
        self.meta  # noqa: B018 - open the stores here, so that every copy shares them
        self.objects  # noqa: B018
        clone = copy.copy(self)
        clone.config = self.config._replace(user=check_segment(user, "user name"))
        clone.user = clone.config.user
        return clone

    # -- stores, opened lazily so that cheap commands stay cheap ----------------------------
    @cached_property
    def meta(self) -> MetadataStore:
        from ..storage.metadata import MetadataStore

        os.makedirs(self.config.home, exist_ok=True)
        store = MetadataStore(self.config.db_url)
        store.migrate()
        return store

    @cached_property
    def objects(self) -> ObjectStore:
        """The local folder or S3; gc's writers' lock lives in PostgreSQL on a team hub."""
        from ..storage.local import LocalObjectStore
        from ..storage.locks import FileWritersLock, PostgresWritersLock, WritersLock

        lock: WritersLock | None = None
        if not self.config.db_url.startswith("sqlite"):
            lock = PostgresWritersLock(self.meta.engine)
        if not self.config.store.startswith("s3://"):
            return LocalObjectStore(self.config.store, lock)
        from ..storage.s3 import S3ObjectStore

        os.makedirs(self.config.home, exist_ok=True)
        lock = lock or FileWritersLock(os.path.join(self.config.home, "s3-writers.lock"))
        return S3ObjectStore(self.config.store, self.meta, self.config.object_cache, lock)

    @cached_property
    def index(self) -> WorkspaceIndex:
        from .workspace_index import WorkspaceIndex

        return WorkspaceIndex(self.config.workspace_index)

    @cached_property
    def catalog(self) -> type[Catalog]:
        from ..storage.metadata import Catalog

        return Catalog

    def close(self) -> None:
        for name in ("objects", "index"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()
        if "meta" in self.__dict__:
            self.__dict__.pop("meta").engine.dispose()

    def __enter__(self: H) -> H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- permissions -----------------------------------------------------------------------
    def _level(self, conn: Connection, folder: FolderRow) -> int:
        if folder.owner == self.user:
            return LEVELS["edit"]
        granted = self.catalog.grants_for(conn, folder.id)
        if not granted:
            return 0
        mine = [self.user, EVERYONE, *(f"@{g}" for g in self.catalog.groups_of(conn, self.user))]
        return max((LEVELS[granted[p]] for p in mine if p in granted), default=0)

    def _authorize(self, conn: Connection, folder: FolderRow, needed: str) -> None:
        """The one permission check: owner may do anything, others what they were granted."""
        level = self._level(conn, folder)
        if level >= LEVELS[needed]:
            return
        where = folder_path(folder)
        if level == 0:
            raise PermissionDenied(
                f"'{self.user}' may not access folder '{where}'; ask its owner '{folder.owner}' to share it."
            )
        raise PermissionDenied(
            f"'{self.user}' may not {needed} in folder '{where}' (granted: {_name(level)}); ask its owner '{folder.owner}'."
        )

    def can(self, conn: Connection, folder: FolderRow, needed: str) -> bool:
        return self._level(conn, folder) >= LEVELS[needed]

    def access(self, conn: Connection, folder: FolderRow) -> str:
        """The caller's level in ``folder`` by name ('none', 'read', 'run', 'edit'), so that a
        front end can hide what would be refused (the core still checks every call)."""
        return _name(self._level(conn, folder))

    # -- lookup ----------------------------------------------------------------------------
    def _folder(self, conn: Connection, path: FolderPath) -> FolderRow:
        return _existing(self.catalog.folder(conn, path.owner, path.type, path.folder), path)

    def _asset(self, conn: Connection, path: AssetPath, needed: str = "read") -> AssetRow:
        folder = self._folder(conn, path.folder_path)
        self._authorize(conn, folder, needed)
        return _existing(self.catalog.asset(conn, folder, path.name), path)

    def _resolve(self, conn: Connection, ref: str | AssetRef, needed: str = "read") -> Resolved:
        """What ``ref`` names; its folder, asset, ref row and the commit of that full id come
        from one query (``lookup``), then are checked in the order ``_asset`` checks them."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        path, name = parsed.path, parsed.ref
        found = self.catalog.lookup(conn, path.owner, path.type, path.folder, path.name, name)
        folder, asset, row, full_id, writes = found
        self._authorize(conn, _existing(folder, path.folder_path), needed)
        asset = _existing(asset, path)
        assert writes is not None, "a folder was found, so the lookup's row was read"
        if name == DRAFT:
            if asset.type != "dataset":
                raise InvalidInput(f"'{parsed.path}' is a model; only datasets have a draft.")
            return Resolved(asset, name, "draft", None, writes, self.user)
        if row is not None:
            return Resolved(asset, name, row.kind, row.commit_id, writes, self.user)
        if full_id is not None:
            return Resolved(asset, full_id, "commit", full_id, writes, self.user)
        if looks_like_commit_prefix(name):
            matches = self.meta.commits_with_prefix(conn, asset.id, name)
            if len(matches) > 1:
                raise InvalidInput(
                    f"commit prefix '{name}' is ambiguous in '{parsed.path}'; give more characters."
                )
            if matches:
                return Resolved(asset, matches[0], "commit", matches[0], writes, self.user)
        raise NotFound(self._missing_ref_message(asset, parsed.path, name))

    def _resolved(self, conn: Connection, ref: str | Resolved) -> Resolved:
        """``ref`` resolved for reading now, or as ``resolve`` gave it to this same user a
        moment ago: the server resolves a ref to check access before it looks in its cache,
        and a page it then makes needs no second resolution."""
        if isinstance(ref, str):
            return self._resolve(conn, ref)
        if ref.user != self.user:
            raise PermissionDenied(
                f"'{ref.text}' was resolved for '{ref.user}', not '{self.user}'."
            )
        return ref

    def _missing_ref_message(self, asset: AssetRow, path: AssetPath, name: str) -> str:
        if asset.type == "dataset" and name == MAIN:
            return f"dataset '{path}' has no published version yet; publish its draft first."
        if asset.type == "model" and name == MAIN:
            return f"model '{path}' has no commits yet; commit to '{path}:main' first."
        return f"'{path}' has no branch, tag, version or commit '{name}'."

    def _commit(self, conn: Connection, commit_id: str) -> CommitRow:
        found = self.meta.get_commits(conn, [commit_id])
        if commit_id not in found:
            raise NotFound(f"commit {commit_id[:12]} does not exist.")
        return found[commit_id]

    # -- trees -----------------------------------------------------------------------------
    def load_tree(self, digest: str) -> Tree:
        tree = self._trees.get(digest)
        if tree is None:
            tree = Tree.decode(self.objects.read_bytes(digest))
            self._trees.put(digest, tree)
        return tree

    def same_files(self, conn: Connection, digest: str, other: str) -> bool:
        """Do two trees list the same files?

        Equal digests always do, and unequal ones never do, unless a tree is in the legacy
        encoding: its digest differs from the current one's for the same entries (and from
        another zlib build's), so such a pair is compared entry by entry. Only a hub made
        before the current encoding (or filled from one) can hold legacy trees; any other
        answers from the digests alone, reading no object inside a write transaction.
        """
        if digest == other:
            return True
        if not self.meta.holds_legacy_trees(conn):
            return False
        if not any(self._is_legacy_tree(d) for d in (digest, other)):
            return False
        return self.load_tree(digest) == self.load_tree(other)

    def _is_legacy_tree(self, digest: str) -> bool:
        return is_legacy_encoding(next(iter(self.objects.read_range(digest, 0, 1)), b""))

    def _store_tree(self, writer: ObjectWriter, tree: Tree) -> str:
        """Store a tree and keep it decoded: a tree never changes, so ``add --publish`` or a
        checkout right after an add decodes none of its entries."""
        digest = writer.put_bytes(tree.encode())
        self._trees.put(digest, tree)
        return digest

    # -- commits ---------------------------------------------------------------------------
    def _make_commit(
        self,
        asset: AssetRow,
        *,
        kind: str,
        tree: str,
        parents: Sequence[str],
        message: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        lineage: dict[str, Any] | None = None,
    ) -> CommitRow:
        from ..storage.metadata import CommitRow

        created_at = time.time()
        params, metrics, meta, lineage = params or {}, metrics or {}, meta or {}, lineage or {}
        body = {
            "asset": str(asset_path(asset)),
            "kind": kind,
            "tree": tree,
            "parents": list(parents),
            "author": self.user,
            "created_at": created_at,
            "message": message,
            "params": params,
            "metrics": metrics,
            "meta": meta,
            "lineage": lineage,
        }
        commit_id = hash_bytes(json.dumps(body, sort_keys=True, default=str).encode())
        return CommitRow(
            id=commit_id,
            asset_id=asset.id,
            kind=kind,
            tree=tree,
            author=self.user,
            created_at=created_at,
            message=message,
            params=params,
            metrics=metrics,
            meta=meta,
            lineage=lineage,
            parents=tuple(parents),
        )

    def _input_entries(self, conn: Connection, refs: Iterable[str]) -> list[dict[str, str]]:
        """Resolve input refs (needing 'run' on their folders) to pinned commit ids."""
        entries = []
        for text in refs:
            resolved = self._resolve(conn, text, "run")
            commit_id = resolved.commit_id
            if commit_id is None:
                commit_id = self._snapshot_draft(conn, resolved.asset).id
            entries.append(
                {
                    "ref": f"{resolved.path}:{resolved.ref}",
                    "asset": str(resolved.path),
                    "commit": commit_id,
                }
            )
        return entries

    def resolve_commit(self, ref: str | Resolved) -> tuple[Resolved, CommitRow]:
        """A ref and the commit it names; a draft is snapshotted (the only case that writes)."""
        with self.meta.read() as conn:
            resolved = self._resolved(conn, ref)
            if resolved.commit_id is not None:
                return resolved, self._commit(conn, resolved.commit_id)
        with self.meta.write() as conn:
            resolved = self._resolve(conn, resolved.text)
            return resolved, self._snapshot_draft(conn, resolved.asset)

    def _snapshot_draft(self, conn: Connection, asset: AssetRow) -> CommitRow:
        """Freeze the draft as it is now, so that using it is reproducible.

        An unchanged draft reuses its latest snapshot instead of making a new one.
        """
        draft = self.catalog.require_draft(conn, asset.id)
        parents = [draft.base_commit] if draft.base_commit else []
        latest = self.meta.latest_snapshot(conn, asset.id, draft.tree)
        if latest is not None and list(latest.parents) == parents:
            return latest
        commit = self._make_commit(
            asset,
            kind="snapshot",
            tree=draft.tree,
            parents=parents,
            message=f"snapshot of the draft at revision {draft.revision}",
            meta={"draft_revision": draft.revision},
        )
        self.meta.insert_commit(conn, commit)
        return commit

    def _ensure_new_name(self, conn: Connection, asset: AssetRow, name: str) -> None:
        if self.catalog.ref(conn, asset.id, name) is not None:
            raise AlreadyExists(f"'{asset_path(asset)}' already has a ref named '{name}'.")


R = TypeVar("R")


def _existing(row: R | None, path: FolderPath | AssetPath) -> R:
    """``row``, or the sentence that says the folder or asset at ``path`` does not exist."""
    if row is None:
        what = "asset" if isinstance(path, AssetPath) else "folder"
        raise NotFound(f"{what} '{path}' does not exist; create it with 'assethub create {path}'.")
    return row


def _name(level: int) -> str:
    return next((name for name, value in LEVELS.items() if value == level), "none")
