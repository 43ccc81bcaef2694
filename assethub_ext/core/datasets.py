"""Dataset operations: a mutable draft, frozen into versions ``v1``, ``v2``, ... by publish.

A dataset has one line of published versions and one draft. The draft starts from a
version (its base), collects ``add``/``rm``/``restore`` changes, and ``publish`` freezes it
as the next version, whose parent is the base: so ``derive --from v1`` after ``v3`` makes
``v4`` a child of ``v1`` and versions form a graph. A published version never changes:
no operation moves a version ref, and its commit and objects are immutable.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .context import HubContext, Resolved, asset_path
from .errors import Conflict, InvalidInput, NotFound
from .gcpause import paused_gc
from .ingest import ingest, remember_linked
from .names import DRAFT, MAIN, check_tree_path, parse_asset_path, version_number
from .progress import ProgressFactory, no_progress
from .scan import Sources, scan_sources
from .status import workspace_status
from .tree import Tree, TreeChange, TreeEntry, check_no_file_folder_clash, diff_trees
from .workspace_index import trusted_fingerprint

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import AssetRow, CommitRow, DraftRow


@dataclass(frozen=True)
class DraftChange:
    """What an operation did to a draft."""

    path: str
    revision: int
    changes: list[TreeChange]
    files: int
    hashed_bytes: int = 0
    stored_bytes: int = 0
    linked_files: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class Published:
    path: str
    version: str
    commit_id: str
    files: int
    size: int

    def __str__(self) -> str:
        return f"{self.path}:{self.version}"


def _apply(tree: Tree, entries: list[TreeEntry], roots: dict[str, str]) -> Tree:
    """A folder source replaces that folder in the draft (deletions included); a file upserts."""
    incoming = {e.path for e in entries}
    removals = [
        e.path for root, name in roots.items() if os.path.isdir(root) for e in tree.under(name)
    ]
    updated = tree.replaced(entries, removals=[p for p in removals if p not in incoming])
    check_no_file_folder_clash(updated)
    return updated


class DatasetOps(HubContext):
    def _dataset(self, conn: Connection, path: str, needed: str) -> tuple[AssetRow, DraftRow]:
        asset = self._asset(conn, parse_asset_path(path), needed)
        if asset.type != "dataset":
            raise InvalidInput(
                f"'{path}' is a model; models change by 'assethub commit', not the draft."
            )
        draft = self.catalog.require_draft(conn, asset.id)
        return asset, draft

    def _save_draft(
        self,
        asset_path_text: str,
        draft: DraftRow,
        new_tree: Tree,
        old_tree: Tree,
        base: str | None,
    ) -> DraftChange:
        """Store the new draft tree and move the draft by compare-and-swap on its revision."""
        changes = diff_trees(old_tree, new_tree)
        revision = draft.revision
        if changes or base != draft.base_commit:
            with self.objects.writer() as writer:
                digest = self._store_tree(writer, new_tree)
                writer.commit()
                with self.meta.write() as conn:
                    self._dataset(conn, asset_path_text, "edit")
                    revision = self.catalog.update_draft(
                        conn, draft, tree=digest, base_commit=base, user=self.user
                    )
        return DraftChange(asset_path_text, revision, changes, len(new_tree))

    @paused_gc
    def add(
        self,
        path: str,
        sources: list[str],
        progress: ProgressFactory = no_progress,
        *,
        link: bool = False,
    ) -> DraftChange:
        """Add files and folders to the dataset's draft, each under its own name.

        ``link``: files are taken into the store by reflink, else by a hard link that
        makes them read-only, instead of being copied (see ``core.links``).
        """
        with self.meta.read() as conn:
            asset, draft = self._dataset(conn, path, "edit")
        scanned = scan_sources(sources)
        scanned_at = time.time_ns()
        if self._added_as_they_are(str(asset_path(asset)), scanned, draft.tree):
            return DraftChange(path, draft.revision, [], len(self.load_tree(draft.tree)))
        roots, stamps = scanned.roots, scanned.stamps
        old = self.load_tree(draft.tree)
        with self.objects.writer() as writer:
            ingested = ingest(
                scanned.files(),
                store=self.objects,
                writer=writer,
                index=self.index,
                reachable={e.digest for e in old.values()},
                progress=progress,
                link=link,
            )
            new = _apply(old, ingested.entries, roots)
            changes = diff_trees(old, new)
            digest = self._store_tree(writer, new) if changes else draft.tree
            writer.commit()
            revision = draft.revision
            if changes:
                with self.meta.write() as conn:
                    self._dataset(conn, path, "edit")
                    revision = self.catalog.update_draft(
                        conn, draft, tree=digest, base_commit=draft.base_commit, user=self.user
                    )
        remember_linked(self.index, ingested)
        for root in roots:
            # linking moved the linked files' ctimes after the scan: their stamp is stale
            stamp = None if writer.linked_files else stamps.get(root)
            fingerprint = trusted_fingerprint(stamp, scanned_at)
            self.index.remember_source(str(asset_path(asset)), root, digest, revision, fingerprint)
        return DraftChange(
            path,
            revision,
            changes,
            len(new),
            ingested.hashed_bytes,
            writer.stored_bytes,
            writer.linked_files,
        )

    def _added_as_they_are(self, asset: str, scanned: Sources, draft_tree: str) -> bool:
        """Whether adding ``scanned`` again would change nothing, known without reading a
        file, an index row or the tree: every source has the stat stamp that the last add
        of it recorded (so its names and stats are as they were then), and the draft is
        still the tree that add made (no ``rm``, ``restore``, ``derive`` or other add since).
        A stamp is recorded only when no file was racily clean (``trusted_fingerprint``).
        """
        return all(
            stamp is not None
            and self.index.stamp(asset, root) == stamp.fingerprint
            and self.index.source(asset, root) == draft_tree
            for root, stamp in scanned.stamps.items()
        )

    def status(self, path: str, sources: list[str]) -> list[TreeChange]:
        """What changed in ``sources`` since they were last added to (or checked out from) ``path``."""
        return workspace_status(path, sources, index=self.index, load_tree=self.load_tree)

    def rm(self, path: str, files: list[str]) -> DraftChange:
        with self.meta.read() as conn:
            _, draft = self._dataset(conn, path, "edit")
        old = self.load_tree(draft.tree)
        doomed: list[str] = []
        for name in files:
            found = old.under(check_tree_path(name.rstrip("/")))
            if not found:
                raise NotFound(f"'{name}' is not in the draft of '{path}'.")
            doomed.extend(e.path for e in found)
        return self._save_draft(path, draft, old.replaced(removals=doomed), old, draft.base_commit)

    def publish(self, path: str, message: str = "") -> Published:
        """Freeze the draft as the next version; the version never changes afterwards."""
        with self.meta.write() as conn:
            asset, draft = self._dataset(conn, path, "edit")
            if draft.base_commit is not None and self.same_files(
                conn, self._commit(conn, draft.base_commit).tree, draft.tree
            ):
                base_version = self._version_of(conn, asset, draft.base_commit)
                raise Conflict(
                    f"nothing to publish: the draft of '{path}' is identical to {base_version}."
                )
            if draft.base_commit is None and not len(self.load_tree(draft.tree)):
                raise Conflict(
                    f"nothing to publish: the draft of '{path}' is empty; add files first."
                )
            name, commit = self._new_version(conn, asset, draft, draft.tree, message)
        tree = self.load_tree(draft.tree)
        return Published(str(asset_path(asset)), name, commit.id, len(tree), tree.total_size)

    def _new_version(
        self,
        conn: Connection,
        asset: AssetRow,
        draft: DraftRow,
        tree: str,
        message: str,
        **extra: Any,
    ) -> tuple[str, CommitRow]:
        """Commit ``tree`` as the next version on the draft's base, move ``main``, rebase the draft.

        ``extra`` (meta, lineage) is what a pipeline run adds to the version it publishes.
        """
        versions = [
            version_number(r.name) or 0 for r in self.catalog.list_refs(conn, asset.id, "version")
        ]
        name = f"v{max(versions, default=0) + 1}"
        commit = self._make_commit(
            asset,
            kind="version",
            tree=tree,
            parents=[draft.base_commit] if draft.base_commit else [],
            message=message or f"publish {name}",
            meta={
                **extra.pop("meta", {}),
                "version": name,
                "derived_from": self._version_of(conn, asset, draft.base_commit),
            },
            **extra,
        )
        self.meta.insert_commit(conn, commit)
        self.meta.create_ref(conn, asset.id, name, "version", commit.id)
        latest = self.catalog.ref(conn, asset.id, MAIN)
        if latest is None:
            self.meta.create_ref(conn, asset.id, MAIN, "latest", commit.id)
        else:
            self.meta.move_ref(conn, asset.id, MAIN, latest.commit_id, commit.id)
        self.catalog.update_draft(conn, draft, tree=tree, base_commit=commit.id, user=self.user)
        return name, commit

    def _version_of(self, conn: Connection, asset: AssetRow, commit_id: str | None) -> str | None:
        if commit_id is None:
            return None
        for ref in self.catalog.list_refs(conn, asset.id, "version"):
            if ref.commit_id == commit_id:
                return ref.name
        return commit_id[:12]

    def _published(self, conn: Connection, path: str, ref: str) -> Resolved:
        resolved = self._resolve(conn, f"{parse_asset_path(path)}:{ref}")
        if resolved.asset.type != "dataset":
            raise InvalidInput(f"'{path}' is a model; derive and restore are for datasets.")
        if resolved.commit_id is None or resolved.ref == DRAFT:
            raise InvalidInput(
                "derive and restore take a published version (such as v1), not the draft."
            )
        return resolved

    def derive(self, path: str, from_ref: str, *, force: bool = False) -> DraftChange:
        """Start the draft afresh from any published version."""
        with self.meta.read() as conn:
            _, draft = self._dataset(conn, path, "edit")
            source = self._published(conn, path, from_ref)
            base_tree = self._commit(conn, draft.base_commit).tree if draft.base_commit else None
            new_digest = self._commit(conn, source.commit_id or "").tree
            changed = base_tree is None or not self.same_files(conn, base_tree, draft.tree)
        if not force and changed and len(self.load_tree(draft.tree)):
            raise Conflict(
                f"the draft of '{path}' has unpublished changes; publish them first, or pass --force to discard them."
            )
        return self._save_draft(
            path, draft, self.load_tree(new_digest), self.load_tree(draft.tree), source.commit_id
        )

    def restore(self, path: str, from_ref: str, files: list[str]) -> DraftChange:
        """Bring files (or folders) back into the draft from a published version."""
        if not files:
            raise InvalidInput("name at least one file or folder to restore.")
        with self.meta.read() as conn:
            _, draft = self._dataset(conn, path, "edit")
            source = self._published(conn, path, from_ref)
            source_tree = self.load_tree(self._commit(conn, source.commit_id or "").tree)
        restored: list[TreeEntry] = []
        for name in files:
            found = source_tree.under(check_tree_path(name.rstrip("/")))
            if not found:
                raise NotFound(f"'{name}' is not in {path}:{source.ref}.")
            restored.extend(found)
        old = self.load_tree(draft.tree)
        new = old.replaced(restored, removals=[p for e in restored for p in _clashes(old, e.path)])
        return self._save_draft(path, draft, new, old, draft.base_commit)


def _clashes(tree: Tree, path: str) -> list[str]:
    """Entries that would clash with a restored ``path`` (a file where a folder goes, or inside it)."""
    parts = path.split("/")
    parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
    return [p for p in parents if p in tree] + [e.path for e in tree.under(path) if e.path != path]
