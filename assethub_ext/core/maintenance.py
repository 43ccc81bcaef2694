"""Keeping a hub honest: ``fsck`` proves it is whole, ``gc`` removes what nothing reaches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .context import HubContext
from .errors import InvalidInput
from .progress import ProgressFactory, no_progress
from .tree import Tree

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import CommitRow

DEFAULT_GRACE_SECONDS = 3600


@dataclass
class FsckReport:
    commits: int = 0
    objects: int = 0
    problems: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class GcReport:
    commits_removed: int = 0
    objects_removed: int = 0
    bytes_removed: int = 0
    packs_rewritten: int = 0
    stray_removed: int = 0
    objects_skipped: bool = False  # writers were active: no object was removed this time


def named_objects(commit: CommitRow) -> dict[str, str]:
    """Objects a commit names besides its tree: the code patch, a run's executed notebook."""
    found = {
        "code patch object": (commit.lineage.get("code") or {}).get("patch"),
        "executed notebook": (commit.lineage.get("run") or {}).get("executed_notebook"),
    }
    return {what: digest for what, digest in found.items() if isinstance(digest, str) and digest}


class Maintenance(HubContext):
    def fsck(self, *, verify: bool = True, progress: ProgressFactory = no_progress) -> FsckReport:
        """Check every ref, draft, commit and object; ``verify`` re-hashes every object."""
        report = FsckReport()
        with self.meta.read() as conn:
            commits = self.catalog.all_commit_ids(conn)
            known = {c[0] for c in commits}
            report.commits = len(commits)
            self._check_refs(conn, known, report)
            trees = {tree for _, _, _, tree in commits}
            trees |= {d.tree for d in self.catalog.all_drafts(conn)}
            for commit in self.meta.get_commits(conn, list(known)).values():
                for parent in commit.parents:
                    if parent not in known:
                        report.problems.append(
                            f"commit {commit.id[:12]} names a missing parent {parent[:12]}"
                        )
                for what, digest in named_objects(commit).items():
                    if self.objects.missing([digest]):
                        report.problems.append(f"commit {commit.id[:12]}: its {what} is missing")
        needed = self._tree_objects(trees, report)
        absent = self.objects.missing(needed) | (needed & self.objects.absent())
        report.problems += [f"object {d[:12]} is missing" for d in sorted(absent)]
        if verify:
            infos = list(self.objects.iter_objects())
            bar = progress("fsck", len(infos), "obj")
            for info in infos:
                if not self.objects.verify(info.digest):
                    report.problems.append(f"object {info.digest[:12]} is corrupt")
                bar.update()
            bar.close()
            report.objects = len(infos)
        report.stray = self.objects.stray_files()
        return report

    def _check_refs(self, conn: Connection, known: set[str], report: FsckReport) -> None:
        for asset_heads in self.catalog.all_ref_heads(conn):
            if asset_heads not in known:
                report.problems.append(f"a ref points to missing commit {asset_heads[:12]}")
        for draft in self.catalog.all_drafts(conn):
            if draft.base_commit and draft.base_commit not in known:
                report.problems.append(f"a draft's base {draft.base_commit[:12]} is missing")

    def _tree_objects(self, trees: set[str], report: FsckReport) -> set[str]:
        """Every object that the given trees need, the trees themselves included."""
        needed = set(trees)
        for digest in sorted(trees):
            if self.objects.missing([digest]):
                continue
            try:
                tree = Tree.decode(self.objects.read_bytes(digest))  # from disk, not a cache
                needed.update(e.digest for e in tree.values())
            except Exception as exc:  # a corrupt tree is a finding, not a crash
                report.problems.append(f"tree {digest[:12]} is unreadable: {exc}")
        return needed

    def gc(self, *, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> GcReport:
        """Remove commits and objects that nothing reaches and that are older than the grace.

        Objects are removed only while no writer is open (a writer stays open until the
        metadata naming its objects is committed), so gc never races a commit in flight;
        when writers are active, it removes unreachable commits but no objects, and says so.
        The grace period keeps recent history around for ``fsck`` and for people.
        """
        if grace_seconds < 0:
            raise InvalidInput("the grace period cannot be negative.")
        cutoff = time.time() - grace_seconds
        report = GcReport()
        with self.meta.write() as conn:
            all_commits = self.catalog.all_commit_ids(conn)
            live = self._reachable_commits(conn)
            doomed = [
                cid for cid, _, created, _ in all_commits if cid not in live and created < cutoff
            ]
            self.catalog.delete_commits(conn, doomed)
            report.commits_removed = len(doomed)
            gone = set(doomed)
            trees = {tree for cid, _, _, tree in all_commits if cid not in gone}
            trees |= {d.tree for d in self.catalog.all_drafts(conn)}
            keep = self._tree_objects(trees, FsckReport())
            kept = [cid for cid, _, _, _ in all_commits if cid not in gone]
            for commit in self.meta.get_commits(conn, kept).values():
                keep.update(named_objects(commit).values())
        # Outside the transaction: a store indexed in this database writes to it. A writer
        # that lands meanwhile refreshes the age of every object it reuses, so it is spared.
        collected = self.objects.collect(keep, cutoff)
        report.objects_removed = collected.removed
        report.bytes_removed = collected.removed_bytes
        report.packs_rewritten = collected.repacked
        report.stray_removed = collected.stray_removed
        report.objects_skipped = collected.skipped
        return report

    def _reachable_commits(self, conn: Connection) -> set[str]:
        """Commits reachable from refs, drafts, snapshots, evaluations, and the inputs of those.

        An evaluation is on no branch; it keeps itself and the version it evaluates.
        """
        roots = set(self.catalog.all_ref_heads(conn))
        roots |= {d.base_commit for d in self.catalog.all_drafts(conn) if d.base_commit}
        roots |= {
            cid
            for cid, kind, _, _ in self.catalog.all_commit_ids(conn)
            if kind in ("snapshot", "evaluation")
        }
        live: set[str] = set()
        while roots - live:
            found = self.meta.ancestors(conn, sorted(roots - live))
            live |= {c.id for c in found} | roots
            roots = {i["commit"] for c in found for i in c.lineage.get("inputs", [])}
        return live
