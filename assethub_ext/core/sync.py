"""push, pull and clone: assets travel between two hubs with their refs, commits and objects.

Like git (and DVC, and the Hugging Face Hub), a transfer is planned before anything moves:

1. **Read the source** (``read`` on each folder): the assets asked for, their refs, and
   every commit those refs reach.
2. **Check the destination** (``edit`` on each folder, through the same ``_authorize`` as
   every other call): a published version or tag that differs there is refused (they never
   change); a branch that diverged there is refused unless ``force``. Nothing is sent yet.
3. **Send only missing objects**: the destination is asked which of the needed digests it
   has, in batches; the rest are copied in writer batches that each land on their own, so a
   transfer killed halfway resumes where it stopped and never re-sends what arrived. The
   stores do the parallel work (S3 uploads and downloads run on their thread pools).
4. **Land the metadata in one transaction**: commits first, then refs, each moved by
   compare-and-swap against the head seen in step 2. Of two pushers racing for one branch,
   one wins and the other gets ``BranchMoved`` with nothing half-visible; objects that
   landed for it stay until ``gc`` (or its rerun) uses them.

Drafts, the run cache, pins and grants do not travel: they belong to the hub they were
made in. A dataset that is new on the destination gets a draft at its newest version.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .config import HubConfig
from .context import HubContext, asset_path
from .errors import Conflict, Immutable, InvalidInput, NotFound, PermissionDenied
from .hashing import hash_bytes
from .maintenance import named_objects
from .names import MAIN, AssetPath, FolderPath, parse_path, version_number
from .progress import ProgressBar, ProgressFactory, no_progress
from .remotes import Remote, Remotes, check_remote
from .tree import Tree

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import AssetRow, CommitRow, FolderRow, RefRow

S = TypeVar("S", bound="SyncOps")
ASK_BATCH = 1000
"""Digests asked about in one question to the destination."""
BATCH_OBJECTS = 1000
BATCH_BYTES = 128 * 1024 * 1024
"""One writer batch (landing on its own) holds at most this many objects or bytes."""
LARGE = 1024 * 1024
"""Objects at least this big are streamed from store to store, not read into memory."""


@dataclass
class AssetPlan:
    """One asset as the source has it, and what the destination already holds of it."""

    path: AssetPath
    source: AssetRow
    refs: list[RefRow]
    commits: dict[str, CommitRow]
    heads: dict[str, str] = field(default_factory=dict)  # the destination's refs, as seen
    have: set[str] = field(default_factory=set)  # commits the destination already has
    moves: list[dict[str, Any]] = field(default_factory=list)  # each source ref's fate there
    for_lineage: bool = False  # not asked for: holds only commits that selected ones used


@dataclass
class SyncReport:
    """What a transfer did: assets, commits and objects sent, and each ref's fate."""

    assets: list[str] = field(default_factory=list)
    commits: int = 0
    objects: int = 0
    bytes: int = 0
    refs: list[dict[str, Any]] = field(default_factory=list)


class SyncOps(HubContext):
    # -- remotes ---------------------------------------------------------------------------
    @property
    def remotes(self) -> Remotes:
        return Remotes(self.config.home)

    def open_remote(self: S, name: str) -> S:
        """The hub that remote ``name`` names, acted on by this hub's user."""
        return self._open(self.remotes.get(name))

    def _open(self: S, remote: Remote) -> S:
        if remote.db == self.config.db_url:
            raise InvalidInput(f"remote '{remote.name}' is this hub itself; name another hub.")
        if remote.db.startswith("sqlite:///") and not os.path.exists(remote.db[10:]):
            raise NotFound(
                f"remote '{remote.name}' has no hub at {remote.db}; run 'assethub init' there."
            )
        home = os.path.join(self.config.home, "remotes", remote.name)
        config = HubConfig(home=home, db_url=remote.db, store=remote.store, user=self.user)
        return type(self)(config=config)

    # -- transfers -------------------------------------------------------------------------
    def push(
        self,
        remote: str,
        paths: Sequence[str] = (),
        *,
        force: bool = False,
        progress: ProgressFactory = no_progress,
    ) -> SyncReport:
        """Send assets (all you may read, a folder, or one asset) to ``remote``."""
        return self._with_remote(remote, "push", paths, force, progress)

    def pull(
        self,
        remote: str,
        paths: Sequence[str] = (),
        *,
        force: bool = False,
        progress: ProgressFactory = no_progress,
    ) -> SyncReport:
        """Bring assets from ``remote`` into this hub; folders new here mirror the remote's."""
        return self._with_remote(remote, "pull", paths, force, progress)

    def _with_remote(
        self, remote: str, verb: str, paths: Sequence[str], force: bool, progress: ProgressFactory
    ) -> SyncReport:
        with self.open_remote(remote) as other:
            source, dest = (self, other) if verb == "push" else (other, self)
            return transfer(source, dest, paths, force=force, verb=verb, progress=progress)

    @classmethod
    def clone(
        cls: type[S],
        home: str,
        db: str,
        store: str,
        *,
        user: str | None = None,
        paths: Sequence[str] = (),
        progress: ProgressFactory = no_progress,
    ) -> SyncReport:
        """A new embedded hub in ``home`` holding what you may read of the remote, whose
        name there is ``origin``."""
        home = os.path.abspath(os.path.expanduser(home))
        if os.path.exists(os.path.join(home, "hub.sqlite")):
            raise Conflict(f"'{home}' already holds a hub; clone into a new folder.")
        origin = check_remote("origin", db, store)
        base = HubConfig.from_env(home=home, user=user)
        config = base._replace(
            db_url=f"sqlite:///{os.path.join(home, 'hub.sqlite')}",
            store=os.path.join(home, "store"),
        )
        with cls(config=config) as local, local._open(origin) as other:
            report = transfer(other, local, paths, force=False, verb="pull", progress=progress)
            local.remotes.add("origin", db, store)
            return report


def transfer(
    source: HubContext,
    dest: HubContext,
    paths: Sequence[str],
    *,
    force: bool,
    verb: str,
    progress: ProgressFactory = no_progress,
) -> SyncReport:
    """Copy the selected assets from ``source`` to ``dest`` (see the module for the steps)."""
    plans = _plan(source, [parse_path(p) for p in paths])
    report = SyncReport()
    with dest.meta.read() as conn:
        plans = [p for p in plans if _destination_takes(dest, conn, p, verb)]
        for plan in plans:
            plan.moves = _ref_moves(dest, conn, plan, force, verb)
    report.assets = [str(p.path) for p in plans if not p.for_lineage]
    wanted = _needed_objects(source, plans)
    missing = {d: wanted[d] for d in _ask_missing(dest, wanted)}
    report.objects, report.bytes = len(missing), sum(s or 0 for s in missing.values())
    _send(source, dest, missing, progress(f"{verb} objects", len(missing), "obj"))
    _ensure_empty_tree(dest)
    with source.meta.read() as conn:
        legacy_trees = source.meta.holds_legacy_trees(conn)
    with dest.meta.write() as conn:
        if legacy_trees:
            dest.meta.note_legacy_trees(conn)
        for plan in plans:
            report.commits += _land(dest, conn, plan, mirror=verb == "pull")
            report.refs += _apply_refs(dest, conn, plan)
    return report


# -- 1. the source ----------------------------------------------------------------------------
def _plan(source: HubContext, targets: list[FolderPath | AssetPath]) -> list[AssetPlan]:
    with source.meta.read() as conn:
        chosen = list(_selected_assets(source, conn, targets))
        plans = []
        for asset in chosen:
            refs = source.catalog.list_refs(conn, asset.id)
            heads = sorted({r.commit_id for r in refs})
            commits = {c.id: c for c in source.meta.ancestors(conn, heads)} if heads else {}
            plans.append(AssetPlan(asset_path(asset), asset, refs, commits))
        return plans + _lineage_plans(source, conn, plans)


def _inputs(commits: Iterable[CommitRow]) -> set[str]:
    return {i["commit"] for c in commits for i in c.lineage.get("inputs", [])}


def _lineage_plans(source: HubContext, conn: Connection, plans: list[AssetPlan]) -> list[AssetPlan]:
    """The commits that the selected ones name as lineage inputs (and their ancestors, and
    their own inputs), where the user may read them, so that the lineage graph is whole on
    the destination. No refs travel with them: inputs keep them alive there (as ``gc`` knows)."""
    by_asset = {p.source.id: p for p in plans}
    known = {c for p in plans for c in p.commits}
    added: list[AssetPlan] = []
    pending = _inputs(c for p in plans for c in p.commits.values()) - known
    while pending:
        found: list[CommitRow] = []
        for row in source.meta.get_commits(conn, sorted(pending)).values():
            asset = source.catalog.asset_by_id(conn, row.asset_id)
            if not source.can(conn, asset.folder, "read"):
                continue  # the graph there shows a node it cannot open, as it does here
            plan = by_asset.get(asset.id)
            if plan is None:
                plan = AssetPlan(asset_path(asset), asset, [], {}, for_lineage=True)
                by_asset[asset.id] = plan
                added.append(plan)
            fresh = [c for c in source.meta.ancestors(conn, [row.id]) if c.id not in known]
            plan.commits.update((c.id, c) for c in fresh)
            known.update(c.id for c in fresh)
            found += fresh
        pending = _inputs(found) - known
    return added


def _selected_assets(
    source: HubContext, conn: Connection, targets: list[FolderPath | AssetPath]
) -> Iterator[AssetRow]:
    """The assets named (an asset, a folder), or every one the user may read; read checked."""
    if not targets:
        for folder in source.catalog.list_folders(conn):
            if source.can(conn, folder, "read"):
                yield from source.catalog.list_assets(conn, folder)
        return
    seen: set[int] = set()
    for target in targets:
        if isinstance(target, AssetPath):
            found = [source._asset(conn, target, "read")]
        else:
            folder = source._folder(conn, target)
            source._authorize(conn, folder, "read")
            found = source.catalog.list_assets(conn, folder)
        for asset in found:
            if asset.id not in seen:
                seen.add(asset.id)
                yield asset


# -- 2. the destination -----------------------------------------------------------------------
def _destination_takes(dest: HubContext, conn: Connection, plan: AssetPlan, verb: str) -> bool:
    """Check the destination for ``plan``; an asset there only for lineage that may not be
    written is left out (its commits are context, not what was asked for) rather than refused."""
    try:
        _check_destination(dest, conn, plan, verb)
    except PermissionDenied:
        if not plan.for_lineage:
            raise
        return False
    return True


def _check_destination(dest: HubContext, conn: Connection, plan: AssetPlan, verb: str) -> None:
    """``edit`` on an existing folder; a missing one is the user's to create (push), or a
    mirror of the remote's (pull); then remember the destination's refs and commits."""
    where = plan.path.folder_path
    folder = dest.catalog.folder(conn, where.owner, where.type, where.folder)
    if folder is not None:
        dest._authorize(conn, folder, "edit")
    elif verb == "push" and where.owner != dest.user:
        raise PermissionDenied(
            f"folder '{where}' does not exist on the remote and only '{where.owner}' can create it."
        )
    asset = dest.catalog.asset(conn, folder, plan.path.name) if folder else None
    if asset is None:
        return
    plan.heads = {r.name: r.commit_id for r in dest.catalog.list_refs(conn, asset.id)}
    plan.have = _existing(dest, conn, asset.id, list(plan.commits))


def _existing(dest: HubContext, conn: Connection, asset_id: int, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), ASK_BATCH):
        found |= dest.meta.commits_of_asset(conn, asset_id, ids[start : start + ASK_BATCH])
    return found


def _ref_moves(
    dest: HubContext, conn: Connection, plan: AssetPlan, force: bool, verb: str
) -> list[dict[str, Any]]:
    """Each source ref's fate on the destination; refuses what may not change there."""
    moves = []
    for ref in plan.refs:
        if plan.source.type == "dataset" and ref.name == MAIN:
            continue  # a dataset's main follows its newest version wherever it lives
        old = plan.heads.get(ref.name)
        status = _fate(dest, conn, plan, ref, old, force, verb)
        moves.append(
            {
                "asset": str(plan.path),
                "ref": ref.name,
                "kind": ref.kind,
                "from": old,
                "to": ref.commit_id,
                "status": status,
            }
        )
    return moves


def _fate(
    dest: HubContext,
    conn: Connection,
    plan: AssetPlan,
    ref: RefRow,
    old: str | None,
    force: bool,
    verb: str,
) -> str:
    if old is None:
        return "created"
    if old == ref.commit_id:
        return "up-to-date"
    where = f"'{plan.path}:{ref.name}'"
    other = "the remote" if verb == "push" else "this hub"
    if ref.kind != "branch":
        raise Immutable(
            f"{where} is a different commit on {other}; a published {ref.kind} never changes: "
            f"pull, derive from the latest version and publish again."
        )
    if old in plan.commits:
        return "fast-forward"
    if ref.commit_id in {c.id for c in dest.meta.ancestors(conn, [old])}:
        return "behind"  # the destination is ahead: nothing to send for this ref
    if force:
        return "forced"
    advice = "pull and merge first" if verb == "push" else "merge the remote's branch by hand"
    raise Conflict(
        f"branch {where} has diverged on {other}; {advice}, or {verb} with --force to overwrite it."
    )


# -- 3. objects -------------------------------------------------------------------------------
def _needed_objects(source: HubContext, plans: list[AssetPlan]) -> dict[str, int | None]:
    """Digest -> size (None where no tree says it) of every object the new commits need."""
    needed: dict[str, int | None] = {}
    for plan in plans:
        for commit in plan.commits.values():
            if commit.id in plan.have:
                continue
            needed.setdefault(commit.tree, None)
            for digest in named_objects(commit).values():
                needed.setdefault(digest, None)
            for entry in source.load_tree(commit.tree).values():
                needed[entry.digest] = entry.size
    return needed


def _ask_missing(dest: HubContext, wanted: dict[str, int | None]) -> list[str]:
    """The digests the destination lacks, asked in batches of ``ASK_BATCH``."""
    digests = sorted(wanted)
    missing: list[str] = []
    for start in range(0, len(digests), ASK_BATCH):
        missing += sorted(dest.objects.missing(digests[start : start + ASK_BATCH]))
    return missing


def _batches(missing: dict[str, int | None]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for digest, known in missing.items():
        batch.append(digest)
        size += known or 0
        if len(batch) >= BATCH_OBJECTS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _ensure_empty_tree(dest: HubContext) -> None:
    """A dataset new to the destination and never published starts with the empty tree."""
    with dest.objects.writer() as writer:
        writer.put_bytes(Tree().encode())
        writer.commit()


def _send(
    source: HubContext, dest: HubContext, missing: dict[str, int | None], bar: ProgressBar
) -> None:
    """Copy ``missing`` batch by batch; each batch lands (is indexed) before the next starts."""
    try:
        for batch in _batches(missing):
            large = {d: size for d in batch if (size := missing[d] or 0) >= LARGE}
            small = [d for d in batch if d not in large]
            with dest.objects.writer() as writer:
                for _digest, data in source.objects.read_many(small):
                    writer.put_bytes(data)
                    bar.update()
                if large:  # each written once, verified on the way (see ``put_objects``)
                    writer.put_objects(source.objects, large)
                    bar.update(len(large))
                writer.commit()
    finally:
        bar.close()


# -- 4. metadata ------------------------------------------------------------------------------
def _land(dest: HubContext, conn: Connection, plan: AssetPlan, *, mirror: bool) -> int:
    """Folder, asset and missing commits of one plan; returns the number of commits added."""
    folder = _dest_folder(dest, conn, plan, mirror=mirror)
    asset = dest.catalog.asset(conn, folder, plan.path.name)
    if asset is None:
        asset_id = dest.catalog.insert_asset(
            conn, folder, plan.path.name, plan.source.description, plan.source.created_by
        )
        asset = dest.catalog.asset_by_id(conn, asset_id)
    have = _existing(dest, conn, asset.id, list(plan.commits))
    fresh = [c for c in plan.commits.values() if c.id not in have]
    for commit in fresh:
        dest.meta.insert_commit(conn, dataclasses.replace(commit, asset_id=asset.id))
    return len(fresh)


def _dest_folder(dest: HubContext, conn: Connection, plan: AssetPlan, *, mirror: bool) -> FolderRow:
    """The destination folder, checked for ``edit``; a pull creates a missing one as a mirror:
    the remote's owner, and ``edit`` for you (it is your copy)."""
    where = plan.path.folder_path
    folder = dest.catalog.folder(conn, where.owner, where.type, where.folder)
    if folder is None:
        if not mirror and where.owner != dest.user:
            raise PermissionDenied(f"only '{where.owner}' can create folder '{where}'.")
        dest.catalog.insert_folder(conn, where.owner, where.type, where.folder, dest.user)
        folder = dest._folder(conn, where)
        if where.owner != dest.user:
            dest.catalog.set_grant(conn, folder.id, dest.user, "edit")
    dest._authorize(conn, folder, "edit")
    return folder


def _apply_refs(dest: HubContext, conn: Connection, plan: AssetPlan) -> list[dict[str, Any]]:
    """Move this plan's refs by compare-and-swap against what step 2 saw; then main, draft."""
    asset = dest.catalog.asset(conn, dest._folder(conn, plan.path.folder_path), plan.path.name)
    assert asset is not None, "_land created it in this transaction"
    mine = list(plan.moves)
    for move in mine:
        if move["status"] == "created":
            dest.meta.create_ref(conn, asset.id, move["ref"], move["kind"], move["to"])
        elif move["status"] in ("fast-forward", "forced"):
            dest.meta.move_ref(conn, asset.id, move["ref"], move["from"], move["to"])
    if asset.type == "dataset":
        mine += _follow_newest_version(dest, conn, asset)
    return mine


def _follow_newest_version(
    dest: HubContext, conn: Connection, asset: AssetRow
) -> list[dict[str, Any]]:
    """Point a dataset's ``main`` at its newest version; give a new dataset its draft."""
    versions = dest.catalog.list_refs(conn, asset.id, "version")
    newest = max(versions, key=lambda r: version_number(r.name) or 0, default=None)
    if dest.catalog.draft(conn, asset.id) is None:
        tree = dest._commit(conn, newest.commit_id).tree if newest else hash_bytes(Tree().encode())
        dest.catalog.insert_draft(conn, asset.id, tree, dest.user)
        if newest is not None:
            draft = dest.catalog.require_draft(conn, asset.id)
            dest.catalog.update_draft(
                conn, draft, tree=tree, base_commit=newest.commit_id, user=dest.user
            )
    if newest is None:
        return []
    main = dest.catalog.ref(conn, asset.id, MAIN)
    if main is None:
        dest.meta.create_ref(conn, asset.id, MAIN, "latest", newest.commit_id)
    elif main.commit_id != newest.commit_id:
        dest.meta.move_ref(conn, asset.id, MAIN, main.commit_id, newest.commit_id)
    else:
        return []
    old = main.commit_id if main else None
    return [
        {
            "asset": str(asset_path(asset)),
            "ref": MAIN,
            "kind": "latest",
            "from": old,
            "to": newest.commit_id,
            "status": "fast-forward" if old else "created",
        }
    ]
