"""The metadata store: folders, assets, commits, refs, drafts and grants in SQL.

SQLAlchemy Core, one code path for SQLite (the embedded default, in WAL mode) and
PostgreSQL (a team hub needs only its URL). Refs and drafts move by compare-and-swap
(``UPDATE ... WHERE commit_id = <expected>``) inside a transaction, so two writers racing
for one branch give one success and one ``BranchMoved``, never a lost commit.

Importing SQLAlchemy costs a few hundred milliseconds: only code that needs the metadata
imports this module, so ``assethub status`` stays fast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from ..core.errors import AssetHubError, BranchMoved, IntegrityError

SCHEMA_VERSION = 2
MOVABLE_KINDS = ("branch", "latest")
"""Only branches and a dataset's ``main`` ever move; versions and tags are fixed forever, and
the SQL that moves or deletes refs says so itself, whatever its caller asked."""

metadata = MetaData()

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

folders = Table(
    "folders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("owner", "type", "name"),
)

grants = Table(
    "grants",
    metadata,
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    Column("principal", String(72), primary_key=True),
    Column("level", String(8), nullable=False),
)

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("folder_id", Integer, ForeignKey("folders.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("folder_id", "name"),
)

commits = Table(
    "commits",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("asset_id", Integer, ForeignKey("assets.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("tree", String(64), nullable=False),
    Column("author", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("meta", Text, nullable=False),
    Column("lineage", Text, nullable=False),
    Index("ix_commits_asset_time", "asset_id", "created_at"),
)

commit_parents = Table(
    "commit_parents",
    metadata,
    Column("commit_id", String(64), ForeignKey("commits.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("parent_id", String(64), nullable=False, index=True),
)

commit_inputs = Table(
    "commit_inputs",
    metadata,
    Column("commit_id", String(64), ForeignKey("commits.id"), primary_key=True),
    Column("input_id", String(64), primary_key=True, index=True),
)

refs = Table(
    "refs",
    metadata,
    Column("asset_id", Integer, ForeignKey("assets.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("commit_id", String(64), ForeignKey("commits.id"), nullable=False, index=True),
    Column("updated_at", Float, nullable=False),
)

drafts = Table(
    "drafts",
    metadata,
    Column("asset_id", Integer, ForeignKey("assets.id"), primary_key=True),
    Column("base_commit", String(64), nullable=True),
    Column("tree", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(64), nullable=False),
)


run_metadata = MetaData()  # tables added after v1 live apart, so v1's create_all stays v1

run_cache = Table(
    "run_cache",
    run_metadata,
    Column("key", String(64), primary_key=True),
    Column("stage", String(64), nullable=False),
    Column("record", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
)
"""Pipeline runs by stage key: the output commits of a run, so an unchanged stage is skipped
by whoever shares the hub."""


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn)


def _add_run_cache(conn: Connection) -> None:
    run_metadata.create_all(conn)


MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1, _add_run_cache]
"""Step ``i`` takes a hub from schema version ``i`` to ``i + 1``; append, never edit."""


@dataclass(frozen=True)
class CommitRow:
    id: str
    asset_id: int
    kind: str
    tree: str
    author: str
    created_at: float
    message: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    meta: dict[str, Any]
    lineage: dict[str, Any]
    parents: tuple[str, ...]


def _row_to_commit(row: Any, parents: Sequence[str]) -> CommitRow:
    return CommitRow(
        id=row.id,
        asset_id=row.asset_id,
        kind=row.kind,
        tree=row.tree,
        author=row.author,
        created_at=row.created_at,
        message=row.message,
        params=json.loads(row.params),
        metrics=json.loads(row.metrics),
        meta=json.loads(row.meta),
        lineage=json.loads(row.lineage),
        parents=tuple(parents),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class MetadataStore:
    """Owns the engine; every method takes the connection of the caller's transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _make_engine(url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite, so writers queue, not fail)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(assethub_write=True)
            with conn.begin():
                yield conn

    # -- schema ----------------------------------------------------------------------------
    def schema_version(self, conn: Connection) -> int:
        if not self.engine.dialect.has_table(conn, "settings"):
            return 0
        value = conn.execute(
            select(settings.c.value).where(settings.c.key == "schema_version")
        ).scalar()
        return int(value) if value is not None else 0

    def migrate(self) -> int:
        """Bring the schema up to date; refuse a hub written by a newer Asset Hub."""
        with self.write() as conn:
            current = self.schema_version(conn)
            if current > SCHEMA_VERSION:
                raise AssetHubError(
                    f"this hub uses schema version {current}, newer than this Asset Hub "
                    f"understands ({SCHEMA_VERSION}); upgrade assethub-ext."
                )
            for step in MIGRATIONS[current:]:
                step(conn)
            if current != SCHEMA_VERSION:
                conn.execute(settings.delete().where(settings.c.key == "schema_version"))
                conn.execute(
                    settings.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
                )
        return SCHEMA_VERSION

    # -- commits ---------------------------------------------------------------------------
    def insert_commit(self, conn: Connection, commit: CommitRow) -> None:
        conn.execute(
            commits.insert().values(
                id=commit.id,
                asset_id=commit.asset_id,
                kind=commit.kind,
                tree=commit.tree,
                author=commit.author,
                created_at=commit.created_at,
                message=commit.message,
                params=_dumps(commit.params),
                metrics=_dumps(commit.metrics),
                meta=_dumps(commit.meta),
                lineage=_dumps(commit.lineage),
            )
        )
        if commit.parents:
            conn.execute(
                commit_parents.insert(),
                [
                    {"commit_id": commit.id, "position": i, "parent_id": p}
                    for i, p in enumerate(commit.parents)
                ],
            )
        inputs = sorted({i["commit"] for i in commit.lineage.get("inputs", [])})
        if inputs:
            conn.execute(
                commit_inputs.insert(), [{"commit_id": commit.id, "input_id": i} for i in inputs]
            )

    def get_commits(self, conn: Connection, ids: Sequence[str]) -> dict[str, CommitRow]:
        if not ids:
            return {}
        parents: dict[str, list[str]] = {i: [] for i in ids}
        for row in conn.execute(
            select(commit_parents)
            .where(commit_parents.c.commit_id.in_(ids))
            .order_by(commit_parents.c.position)
        ):
            parents[row.commit_id].append(row.parent_id)
        rows = conn.execute(select(commits).where(commits.c.id.in_(ids)))
        return {row.id: _row_to_commit(row, parents[row.id]) for row in rows}

    def commits_with_prefix(
        self, conn: Connection, asset_id: int, prefix: str, limit: int = 2
    ) -> list[str]:
        query = (
            select(commits.c.id)
            .where(commits.c.asset_id == asset_id, commits.c.id.startswith(prefix, autoescape=True))
            .limit(limit)
        )
        return list(conn.execute(query).scalars())

    def latest_snapshot(self, conn: Connection, asset_id: int, tree: str) -> CommitRow | None:
        query = (
            select(commits.c.id)
            .where(
                commits.c.asset_id == asset_id, commits.c.kind == "snapshot", commits.c.tree == tree
            )
            .order_by(commits.c.created_at.desc())
            .limit(1)
        )
        found: str | None = conn.execute(query).scalar()
        return self.get_commits(conn, [found])[found] if found else None

    def children_of(self, conn: Connection, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(parent, child) pairs for the given parents."""
        rows = conn.execute(select(commit_parents).where(commit_parents.c.parent_id.in_(ids)))
        return [(row.parent_id, row.commit_id) for row in rows]

    def consumers_of(self, conn: Connection, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(input, commit) pairs: commits whose lineage names one of ``ids`` as an input."""
        rows = conn.execute(select(commit_inputs).where(commit_inputs.c.input_id.in_(ids)))
        return [(row.input_id, row.commit_id) for row in rows]

    def ancestors(
        self, conn: Connection, heads: Sequence[str], limit: int | None = None
    ) -> list[CommitRow]:
        """Every commit reachable from ``heads`` through parents, newest first."""
        anchor = select(commits.c.id.label("id")).where(commits.c.id.in_(heads))
        walk = anchor.cte("walk", recursive=True)
        walk = walk.union(
            select(commit_parents.c.parent_id).join(walk, commit_parents.c.commit_id == walk.c.id)
        )
        query = (
            select(commits.c.id)
            .join(walk, commits.c.id == walk.c.id)
            .order_by(commits.c.created_at.desc(), commits.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        ids = list(conn.execute(query).scalars())
        found = self.get_commits(conn, ids)
        return [found[i] for i in ids]

    # -- refs ------------------------------------------------------------------------------
    def create_ref(
        self, conn: Connection, asset_id: int, name: str, kind: str, commit_id: str
    ) -> None:
        try:
            with conn.begin_nested():
                conn.execute(
                    refs.insert().values(
                        asset_id=asset_id,
                        name=name,
                        kind=kind,
                        commit_id=commit_id,
                        updated_at=time.time(),
                    )
                )
        except SQLIntegrityError as exc:
            raise BranchMoved(
                f"'{name}' was created by someone else just now; look at it and retry."
            ) from exc

    def move_ref(self, conn: Connection, asset_id: int, name: str, expected: str, new: str) -> None:
        result = conn.execute(
            refs.update()
            .where(
                refs.c.asset_id == asset_id,
                refs.c.name == name,
                refs.c.commit_id == expected,
                refs.c.kind.in_(MOVABLE_KINDS),
            )
            .values(commit_id=new, updated_at=time.time())
        )
        if result.rowcount != 1:
            raise BranchMoved(
                f"branch '{name}' moved while this change was being made (another writer got there "
                "first); nothing was lost: look at the new head and retry."
            )


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("assethub_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


@dataclass(frozen=True)
class FolderRow:
    id: int
    owner: str
    type: str
    name: str
    created_at: float
    created_by: str


@dataclass(frozen=True)
class AssetRow:
    id: int
    folder: FolderRow
    name: str
    type: str
    description: str
    created_at: float
    created_by: str


@dataclass(frozen=True)
class RefRow:
    name: str
    kind: str
    commit_id: str
    updated_at: float


@dataclass(frozen=True)
class DraftRow:
    asset_id: int
    base_commit: str | None
    tree: str
    revision: int
    updated_at: float
    updated_by: str


def _folder(row: Any) -> FolderRow:
    return FolderRow(row.id, row.owner, row.type, row.name, row.created_at, row.created_by)


class Catalog:
    """Folder, asset, ref, draft and grant queries (the commit ones live on MetadataStore)."""

    # -- folders ---------------------------------------------------------------------------
    @staticmethod
    def folder(conn: Connection, owner: str, type_: str, name: str) -> FolderRow | None:
        row = conn.execute(
            select(folders).where(
                folders.c.owner == owner, folders.c.type == type_, folders.c.name == name
            )
        ).first()
        return _folder(row) if row else None

    @staticmethod
    def insert_folder(conn: Connection, owner: str, type_: str, name: str, user: str) -> None:
        conn.execute(
            folders.insert().values(
                owner=owner, type=type_, name=name, created_at=time.time(), created_by=user
            )
        )

    @staticmethod
    def list_folders(
        conn: Connection, owner: str | None = None, type_: str | None = None
    ) -> list[FolderRow]:
        query = select(folders).order_by(folders.c.owner, folders.c.type, folders.c.name)
        if owner is not None:
            query = query.where(folders.c.owner == owner)
        if type_ is not None:
            query = query.where(folders.c.type == type_)
        return [_folder(row) for row in conn.execute(query)]

    @staticmethod
    def delete_folder(conn: Connection, folder_id: int) -> None:
        conn.execute(grants.delete().where(grants.c.folder_id == folder_id))
        conn.execute(folders.delete().where(folders.c.id == folder_id))

    # -- assets ----------------------------------------------------------------------------
    @staticmethod
    def asset(conn: Connection, folder: FolderRow, name: str) -> AssetRow | None:
        row = conn.execute(
            select(assets).where(assets.c.folder_id == folder.id, assets.c.name == name)
        ).first()
        return (
            AssetRow(
                row.id, folder, row.name, row.type, row.description, row.created_at, row.created_by
            )
            if row
            else None
        )

    @staticmethod
    def asset_by_id(conn: Connection, asset_id: int) -> AssetRow:
        row = conn.execute(select(assets).where(assets.c.id == asset_id)).one()
        folder = _folder(conn.execute(select(folders).where(folders.c.id == row.folder_id)).one())
        return AssetRow(
            row.id, folder, row.name, row.type, row.description, row.created_at, row.created_by
        )

    @staticmethod
    def insert_asset(
        conn: Connection, folder: FolderRow, name: str, description: str, user: str
    ) -> int:
        result = conn.execute(
            assets.insert().values(
                folder_id=folder.id,
                name=name,
                type=folder.type,
                description=description,
                created_at=time.time(),
                created_by=user,
            )
        )
        key = result.inserted_primary_key
        assert key is not None, "an INSERT always reports its primary key"
        return int(key[0])

    @staticmethod
    def list_assets(conn: Connection, folder: FolderRow) -> list[AssetRow]:
        rows = conn.execute(
            select(assets).where(assets.c.folder_id == folder.id).order_by(assets.c.name)
        )
        return [
            AssetRow(r.id, folder, r.name, r.type, r.description, r.created_at, r.created_by)
            for r in rows
        ]

    @staticmethod
    def delete_asset(conn: Connection, asset_id: int) -> None:
        ids = select(commits.c.id).where(commits.c.asset_id == asset_id)
        conn.execute(refs.delete().where(refs.c.asset_id == asset_id))
        conn.execute(drafts.delete().where(drafts.c.asset_id == asset_id))
        conn.execute(commit_parents.delete().where(commit_parents.c.commit_id.in_(ids)))
        conn.execute(commit_inputs.delete().where(commit_inputs.c.commit_id.in_(ids)))
        conn.execute(commits.delete().where(commits.c.asset_id == asset_id))
        conn.execute(assets.delete().where(assets.c.id == asset_id))

    @staticmethod
    def external_consumers(conn: Connection, asset_id: int) -> list[str]:
        """Commits of *other* assets that name a commit of this asset as an input."""
        own = select(commits.c.id).where(commits.c.asset_id == asset_id)
        query = (
            select(commit_inputs.c.commit_id)
            .join(commits, commits.c.id == commit_inputs.c.commit_id)
            .where(commit_inputs.c.input_id.in_(own), commits.c.asset_id != asset_id)
            .limit(5)
        )
        return list(conn.execute(query).scalars())

    # -- refs ------------------------------------------------------------------------------
    @staticmethod
    def ref(conn: Connection, asset_id: int, name: str) -> RefRow | None:
        row = conn.execute(
            select(refs).where(refs.c.asset_id == asset_id, refs.c.name == name)
        ).first()
        return RefRow(row.name, row.kind, row.commit_id, row.updated_at) if row else None

    @staticmethod
    def list_refs(conn: Connection, asset_id: int, kind: str | None = None) -> list[RefRow]:
        query = select(refs).where(refs.c.asset_id == asset_id).order_by(refs.c.name)
        if kind is not None:
            query = query.where(refs.c.kind == kind)
        return [RefRow(r.name, r.kind, r.commit_id, r.updated_at) for r in conn.execute(query)]

    @staticmethod
    def all_ref_heads(conn: Connection) -> list[str]:
        return list(conn.execute(select(refs.c.commit_id).distinct()).scalars())

    @staticmethod
    def delete_ref(conn: Connection, asset_id: int, name: str, expected: str) -> bool:
        result = conn.execute(
            refs.delete().where(
                refs.c.asset_id == asset_id,
                refs.c.name == name,
                refs.c.commit_id == expected,
                refs.c.kind == "branch",
            )
        )
        return result.rowcount == 1

    # -- drafts ----------------------------------------------------------------------------
    @staticmethod
    def draft(conn: Connection, asset_id: int) -> DraftRow | None:
        row = conn.execute(select(drafts).where(drafts.c.asset_id == asset_id)).first()
        if row is None:
            return None
        return DraftRow(
            row.asset_id, row.base_commit, row.tree, row.revision, row.updated_at, row.updated_by
        )

    @staticmethod
    def require_draft(conn: Connection, asset_id: int) -> DraftRow:
        """A dataset's draft, which exists from the dataset's creation on."""
        found = Catalog.draft(conn, asset_id)
        if found is None:
            raise IntegrityError(f"dataset #{asset_id} has no draft; run 'assethub fsck'.")
        return found

    @staticmethod
    def all_drafts(conn: Connection) -> list[DraftRow]:
        return [
            DraftRow(r.asset_id, r.base_commit, r.tree, r.revision, r.updated_at, r.updated_by)
            for r in conn.execute(select(drafts))
        ]

    @staticmethod
    def insert_draft(conn: Connection, asset_id: int, tree: str, user: str) -> None:
        conn.execute(
            drafts.insert().values(
                asset_id=asset_id,
                base_commit=None,
                tree=tree,
                revision=0,
                updated_at=time.time(),
                updated_by=user,
            )
        )

    @staticmethod
    def update_draft(
        conn: Connection, draft: DraftRow, *, tree: str, base_commit: str | None, user: str
    ) -> int:
        """Compare-and-swap on the draft's revision; returns the new revision."""
        result = conn.execute(
            drafts.update()
            .where(drafts.c.asset_id == draft.asset_id, drafts.c.revision == draft.revision)
            .values(
                tree=tree,
                base_commit=base_commit,
                revision=draft.revision + 1,
                updated_at=time.time(),
                updated_by=user,
            )
        )
        if result.rowcount != 1:
            raise BranchMoved(
                "the draft changed while this change was being made (another writer got there "
                "first); nothing was lost: look at the draft and retry."
            )
        return draft.revision + 1

    # -- grants ----------------------------------------------------------------------------
    @staticmethod
    def grants_for(conn: Connection, folder_id: int) -> dict[str, str]:
        rows = conn.execute(select(grants).where(grants.c.folder_id == folder_id))
        return {row.principal: row.level for row in rows}

    @staticmethod
    def set_grant(conn: Connection, folder_id: int, principal: str, level: str | None) -> None:
        conn.execute(
            grants.delete().where(grants.c.folder_id == folder_id, grants.c.principal == principal)
        )
        if level is not None:
            conn.execute(
                grants.insert().values(folder_id=folder_id, principal=principal, level=level)
            )

    # -- whole-hub listings (fsck, gc) -------------------------------------------------------
    @staticmethod
    def all_commit_ids(conn: Connection) -> list[tuple[str, str, float, str]]:
        rows = conn.execute(
            select(commits.c.id, commits.c.kind, commits.c.created_at, commits.c.tree)
        )
        return [(r.id, r.kind, r.created_at, r.tree) for r in rows]

    @staticmethod
    def delete_commits(conn: Connection, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            conn.execute(commit_parents.delete().where(commit_parents.c.commit_id.in_(chunk)))
            conn.execute(commit_inputs.delete().where(commit_inputs.c.commit_id.in_(chunk)))
            conn.execute(commits.delete().where(commits.c.id.in_(chunk)))

    # -- pipeline run cache ----------------------------------------------------------------
    @staticmethod
    def run_cache_get(conn: Connection, key: str) -> dict[str, Any] | None:
        record = conn.execute(select(run_cache.c.record).where(run_cache.c.key == key)).scalar()
        return json.loads(record) if record is not None else None

    @staticmethod
    def run_cache_put(
        conn: Connection, key: str, stage: str, record: dict[str, Any], user: str
    ) -> None:
        conn.execute(
            run_cache.insert().values(
                key=key, stage=stage, record=_dumps(record), created_at=time.time(), created_by=user
            )
        )
