"""Model operations: commits on branches, tags, and merges.

A branch head moves only by compare-and-swap inside the transaction that inserts the
commit, so of two writers racing on one branch exactly one wins and the other gets a
clear "branch moved" error; its objects stay in the store until ``gc``, nothing is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import lineage as lineage_capture
from .context import HubContext, asset_path
from .errors import Conflict, InvalidInput, MergeConflict, NotFound
from .gcpause import paused_gc
from .ingest import ingest
from .names import (
    DRAFT,
    MAIN,
    AssetRef,
    check_ref_name,
    parse_asset_path,
    parse_ref,
    version_number,
)
from .progress import ProgressFactory, no_progress
from .scan import scan
from .tree import Tree, check_no_file_folder_clash

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import AssetRow, CommitRow
    from ..storage.objects import ObjectWriter
    from .scan import SourceFile

STRATEGIES = ("ours", "theirs")


def parse_pairs(pairs: list[str], what: str) -> dict[str, Any]:
    """``K=V`` pairs; values that read as JSON (numbers, true, null, lists) keep that type."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what} {pair!r} must be written KEY=VALUE.")
        try:
            parsed[key.strip()] = json.loads(value)
        except ValueError:
            parsed[key.strip()] = value
    return parsed


def check_branch_name(name: str) -> str:
    """A valid ref name that is not reserved for dataset versions (``vN``) or drafts."""
    check_ref_name(name, "branch")
    if version_number(name) is not None or name == DRAFT:
        raise InvalidInput(
            f"'{name}' is reserved for dataset versions and drafts; choose another branch name."
        )
    return name


@dataclass(frozen=True)
class MergeResult:
    path: str
    into: str
    commit_id: str
    kind: str  # "fast-forward" | "merge" | "up-to-date"
    resolved: list[str] = field(default_factory=list)


class ModelOps(HubContext):
    @paused_gc
    def commit(
        self,
        ref: str,
        source: str,
        *,
        message: str = "",
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: list[str] | None = None,
        lineage_extra: dict[str, Any] | None = None,
        progress: ProgressFactory = no_progress,
        create_branch: bool = False,
    ) -> CommitRow:
        """Commit the contents of folder ``source`` as the new head of branch ``ref``.

        ``create_branch`` starts a missing branch with this commit (no parent), as sweep
        trials do on a model that has other branches already.
        """
        target = parse_ref(ref)
        files = scan(source, as_contents=True)
        with self.meta.write() as conn:  # a draft input is snapshotted: that is a write
            asset = self._asset(conn, target.path, "edit")
            head = self._branch_head(conn, asset, target.ref, create_branch)
            input_entries = self._input_entries(conn, inputs or [])
            head_tree = self._commit(conn, head).tree if head else None
        reachable = {e.digest for e in self.load_tree(head_tree).values()} if head_tree else set()
        with self.objects.writer() as writer:
            tree_digest = self._ingest_folder(writer, files, reachable, progress)
            return self._land(
                writer, asset, target, head, tree_digest, input_entries, lineage_extra,
                message=message, params=params, metrics=metrics, metadata=metadata,
            )  # fmt: skip

    def commit_tree(
        self,
        ref: str,
        source: str,
        *,
        message: str = "",
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: list[str] | None = None,
        lineage_extra: dict[str, Any] | None = None,
    ) -> CommitRow:
        """Commit the files of commit ``source`` (a ref) as the new head of branch ``ref``.

        No bytes move: the new commit names the source's tree, which the store already
        holds. Its parent is the branch's head (the branch starts here when missing) and
        the source commit is one of its lineage inputs, so where the files came from is
        recorded. This is PBT's exploit step; reading the source needs 'read', the branch 'edit'.
        """
        target = parse_ref(ref)
        with self.meta.write() as conn:
            origin = self._resolve(conn, source, "read")
            if origin.commit_id is None:
                raise InvalidInput(
                    f"'{source}' is a draft; commit its files from a checkout instead."
                )
            tree = self._commit(conn, origin.commit_id).tree
            asset = self._asset(conn, target.path, "edit")
            head = self._branch_head(conn, asset, target.ref, create=True)
            input_entries = self._input_entries(
                conn, [*(inputs or []), f"{origin.path}:{origin.commit_id}"]
            )
        with self.objects.writer() as writer:  # the lineage may store a patch of the code
            return self._land(
                writer, asset, target, head, tree, input_entries, lineage_extra,
                message=message, params=params, metrics=metrics, metadata=metadata,
            )  # fmt: skip

    def _land(
        self,
        writer: ObjectWriter,
        asset: AssetRow,
        target: AssetRef,
        head: str | None,
        tree: str,
        input_entries: list[dict[str, str]],
        lineage_extra: dict[str, Any] | None,
        *,
        message: str,
        params: dict[str, Any] | None,
        metrics: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
    ) -> CommitRow:
        """Capture the lineage, make the batch's objects visible, insert the commit and move
        the branch from ``head`` to it (compare-and-swap), while ``writer`` is still open so
        that a concurrent gc spares the objects until the commit names them."""
        lineage = lineage_capture.capture(
            input_entries, params or {}, writer.put_bytes, lineage_extra
        )
        writer.commit()
        commit = self._make_commit(
            asset,
            kind="commit",
            tree=tree,
            parents=[head] if head else [],
            message=message,
            params=params,
            metrics=metrics,
            meta=metadata,
            lineage=lineage,
        )
        with self.meta.write() as conn:
            self._asset(conn, target.path, "edit")
            self.meta.insert_commit(conn, commit)
            self._advance_branch(conn, asset, target.ref, head, commit.id)
        return commit

    def _ingest_folder(
        self,
        writer: ObjectWriter,
        files: list[SourceFile],
        reachable: set[str],
        progress: ProgressFactory = no_progress,
    ) -> str:
        """Store the scanned files of a folder and its tree; returns the tree's digest."""
        entries = ingest(
            files,
            store=self.objects,
            writer=writer,
            index=self.index,
            reachable=reachable,
            progress=progress,
        ).entries
        tree = Tree(entries)
        check_no_file_folder_clash(tree)
        return self._store_tree(writer, tree)

    def _advance_branch(
        self, conn: Connection, asset: AssetRow, name: str, head: str | None, commit_id: str
    ) -> None:
        """Create the branch at its first commit, else move it from ``head`` (compare-and-swap)."""
        if head is None:
            self.meta.create_ref(conn, asset.id, name, "branch", commit_id)
        else:
            self.meta.move_ref(conn, asset.id, name, head, commit_id)

    def _branch_head(
        self, conn: Connection, asset: AssetRow, name: str, create: bool = False
    ) -> str | None:
        """The head a commit to ``name`` builds on; None for the first commit of a model
        (or of a new branch, when ``create`` allows one)."""
        path = asset_path(asset)
        if asset.type == "dataset":
            hint = "add files to its draft and publish" if name != DRAFT else "use 'assethub add'"
            raise InvalidInput(f"'{path}' is a dataset; datasets have no branches: {hint}.")
        row = self.catalog.ref(conn, asset.id, name)
        if row is not None and row.kind != "branch":
            raise InvalidInput(f"'{name}' is a {row.kind} of '{path}'; commits go on branches.")
        if row is not None:
            return row.commit_id
        check_branch_name(name)
        if not create and self.catalog.list_refs(conn, asset.id):
            raise NotFound(
                f"'{path}' has no branch '{name}'; create it with 'assethub branch create {path}:main {name}'."
            )
        return None

    def branch_create(self, ref: str, name: str) -> str:
        """Create branch ``name`` at whatever ``ref`` resolves to; returns the commit id."""
        check_ref_name(name, "branch")
        with self.meta.write() as conn:
            source = self._resolve(conn, ref, "edit")
            if source.asset.type == "dataset":
                raise InvalidInput(
                    f"'{source.path}' is a dataset; datasets have no branches: derive a draft from a version instead."
                )
            check_branch_name(name)
            self._ensure_new_name(conn, source.asset, name)
            assert source.commit_id is not None
            self.meta.create_ref(conn, source.asset.id, name, "branch", source.commit_id)
            return source.commit_id

    def branch_list(self, path: str) -> list[dict[str, Any]]:
        with self.meta.read() as conn:
            asset = self._asset(conn, parse_asset_path(path))
            if asset.type == "dataset":
                raise InvalidInput(
                    f"'{path}' is a dataset; datasets have no branches (see 'assethub log {path}')."
                )
            rows = self.catalog.list_refs(conn, asset.id, "branch")
            heads = self.meta.get_commits(conn, [r.commit_id for r in rows])
            return [
                {
                    "name": r.name,
                    "commit": r.commit_id,
                    "message": heads[r.commit_id].message,
                    "updated_at": r.updated_at,
                }
                for r in rows
            ]

    def branch_delete(self, path: str, name: str, *, force: bool = False) -> str:
        """Delete a branch; refused when that would orphan commits, unless forced."""
        with self.meta.write() as conn:
            asset = self._asset(conn, parse_asset_path(path), "edit")
            row = self.catalog.ref(conn, asset.id, check_ref_name(name, "branch"))
            if row is None or row.kind != "branch":
                raise NotFound(f"'{path}' has no branch '{name}'.")
            if name == MAIN and not force:
                raise Conflict(
                    f"refusing to delete 'main' of '{path}'; pass --force if you mean it."
                )
            others = [r.commit_id for r in self.catalog.list_refs(conn, asset.id) if r.name != name]
            reachable = {c.id for c in self.meta.ancestors(conn, others)} if others else set()
            if row.commit_id not in reachable and not force:
                raise Conflict(
                    f"branch '{name}' has commits no other branch or tag reaches; merge or tag them, "
                    "or pass --force to let gc collect them."
                )
            if not self.catalog.delete_ref(conn, asset.id, name, row.commit_id):
                raise Conflict(f"branch '{name}' moved while it was being deleted; retry.")
            return row.commit_id

    def tag(self, ref: str, name: str) -> str:
        """Name a commit forever: tags never move."""
        check_ref_name(name, "tag")
        with self.meta.write() as conn:
            source = self._resolve(conn, ref, "edit")
            if source.commit_id is None:
                source_commit = self._snapshot_draft(conn, source.asset).id
            else:
                source_commit = source.commit_id
            if name in (MAIN, DRAFT) or version_number(name) is not None:
                raise InvalidInput(f"'{name}' is reserved; choose another tag name.")
            self._ensure_new_name(conn, source.asset, name)
            self.meta.create_ref(conn, source.asset.id, name, "tag", source_commit)
            return source_commit

    def merge(
        self,
        path: str,
        source: str,
        *,
        into: str = MAIN,
        strategy: str | None = None,
        message: str = "",
    ) -> MergeResult:
        """Merge ref ``source`` into branch ``into``: fast-forward when possible."""
        if strategy is not None and strategy not in STRATEGIES:
            raise InvalidInput(f"strategy '{strategy}' is not one of: ours, theirs.")
        canonical = str(parse_asset_path(path))
        check_ref_name(source)
        check_ref_name(into, "branch")
        with self.meta.read() as conn:
            theirs = self._resolve(conn, f"{canonical}:{source}", "edit")
            asset = theirs.asset
            target_head = self._branch_head(conn, asset, into)
            if target_head is None or theirs.commit_id is None:
                raise NotFound(f"'{canonical}' has no branch '{into}' to merge into.")
            source_id = theirs.commit_id
            ours_ancestors = {c.id for c in self.meta.ancestors(conn, [target_head])}
            if source_id in ours_ancestors:
                return MergeResult(canonical, into, target_head, "up-to-date")
            theirs_ancestors = self.meta.ancestors(conn, [source_id])
            if target_head in {c.id for c in theirs_ancestors}:
                with self.meta.write() as wconn:
                    self.meta.move_ref(wconn, asset.id, into, target_head, source_id)
                return MergeResult(canonical, into, source_id, "fast-forward")
            base_id = next((c.id for c in theirs_ancestors if c.id in ours_ancestors), None)
            commits = self.meta.get_commits(
                conn, [i for i in (target_head, source_id, base_id) if i]
            )
        ours_c, theirs_c = commits[target_head], commits[source_id]
        base_tree = self.load_tree(commits[base_id].tree) if base_id else Tree()
        merged, resolved = _three_way(
            base_tree, self.load_tree(ours_c.tree), self.load_tree(theirs_c.tree), strategy
        )
        winner = ours_c if strategy == "ours" else theirs_c
        with self.objects.writer() as writer:
            tree_digest = self._store_tree(writer, merged)
            writer.commit()
            commit = self._make_commit(
                asset,
                kind="merge",
                tree=tree_digest,
                parents=[target_head, source_id],
                message=message or f"merge {source} into {into}",
                params=winner.params,
                metrics=winner.metrics,
                meta={"merged": source, "strategy": strategy, "resolved": resolved},
            )
            with self.meta.write() as wconn:
                self.meta.insert_commit(wconn, commit)
                self.meta.move_ref(wconn, asset.id, into, target_head, commit.id)
        return MergeResult(canonical, into, commit.id, "merge", resolved)


def _three_way(
    base: Tree, ours: Tree, theirs: Tree, strategy: str | None
) -> tuple[Tree, list[str]]:
    """File-level three-way merge; the same path changed on both sides is a conflict."""
    merged = []
    conflicts: list[str] = []
    for path in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t or t == b:
            pick = o
        elif o == b:
            pick = t
        else:
            conflicts.append(path)
            pick = o if strategy == "ours" else t
        if pick is not None:
            merged.append(pick)
    if conflicts and strategy is None:
        shown = ", ".join(conflicts[:10]) + (" ..." if len(conflicts) > 10 else "")
        raise MergeConflict(
            f"{len(conflicts)} path(s) changed on both sides: {shown}; merge with --strategy ours or theirs.",
            conflicts,
        )
    tree = Tree(merged)
    check_no_file_folder_clash(tree)
    return tree, conflicts
