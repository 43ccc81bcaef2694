"""The metadata store: folders, assets, commits, refs, drafts and grants in SQL.

SQLAlchemy Core, one code path for SQLite (the embedded default, in WAL mode) and
PostgreSQL (a team hub needs only its URL). Refs and drafts move by compare-and-swap
(``UPDATE ... WHERE commit_id = <expected>``) inside a transaction, so two writers racing
for one branch give one success and one ``BranchMoved``, never a lost commit.

Write transactions are serialized on both engines: SQLite's ``BEGIN IMMEDIATE``, and on
PostgreSQL a transaction-scoped advisory lock taken as the transaction begins. Why: the
core's writes check, then insert (a folder, a version number, a ref name), and on SQLite
that was always safe; one lock gives PostgreSQL the same meaning for every such check at
the cost of queueing writes that take milliseconds. Readers never wait (MVCC).

Importing SQLAlchemy costs a few hundred milliseconds: only code that needs the metadata
imports this module, so ``assethub status`` stays fast.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.exc import InterfaceError, OperationalError

from ..core.errors import AssetHubError, BranchMoved, IntegrityError, Unavailable
from ..core.sqlite_wal import enable_wal

SCHEMA_VERSION = 6
WRITE_LOCK_KEY = 0x61737368_75627478  # "asshubtx": the PostgreSQL write-transaction lock
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


store_objects = Table(
    "store_objects",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("pack", String(64), nullable=True, index=True),
    Column("offset", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("stored_at", Float, nullable=False),
)
"""The index of an object store that has no index of its own (S3): which objects exist and
where, in the hub's database, so every machine sees one answer in one query."""

V1_TABLES = (
    settings,
    folders,
    grants,
    assets,
    commits,
    commit_parents,
    commit_inputs,
    refs,
    drafts,
)

run_cache = Table(
    "run_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("stage", String(64), nullable=False),
    Column("record", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
)
"""Pipeline runs by stage key: the output commits of a run, so an unchanged stage is skipped
by whoever shares the hub."""


groups = Table(
    "hub_groups",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)
"""Named sets of users, granted access as ``@name``; a group is managed by its owner."""

group_members = Table(
    "group_members",
    metadata,
    Column("group_name", String(64), ForeignKey("hub_groups.name"), primary_key=True),
    Column("member", String(64), primary_key=True, index=True),
)

hub_writes = Table(
    "hub_writes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
)
"""One row: how many write transactions the hub has committed. Every ``write()`` adds one
in its own transaction, so a process that kept an answer (a lineage graph) knows with one
indexed read whether anything changed since, whoever wrote: another process, another
machine sharing the PostgreSQL hub."""


# -- statements every request runs, built once ---------------------------------------------
# Building a statement costs SQLAlchemy more than SQLite takes to run it (about 120 us
# against 80 us on a 2-CPU VM): the lookups that resolve a ref and check a permission on
# every API request are built here with bound parameters and only executed per call.


def _ids(name: str = "ids") -> Any:
    return bindparam(name, expanding=True)


_FOLDER_NAMED = (
    folders.c.owner == bindparam("owner"),
    folders.c.type == bindparam("type"),
    folders.c.name == bindparam("name"),
)
_FOLDER = select(folders).where(*_FOLDER_NAMED)
_FOLDER_BY_ID = select(folders).where(folders.c.id == bindparam("id"))
_ASSET = select(assets).where(
    assets.c.folder_id == bindparam("folder_id"), assets.c.name == bindparam("name")
)
_WRITES = select(hub_writes.c.count).where(hub_writes.c.id == 1)
_LOOKUP = (
    select(
        folders,
        *(
            column.label(f"asset_{column.name}")
            for column in assets.c
            if column.name != "folder_id"
        ),
        refs.c.name.label("ref_name"),
        refs.c.kind.label("ref_kind"),
        refs.c.commit_id.label("ref_commit_id"),
        refs.c.updated_at.label("ref_updated_at"),
        commits.c.id.label("commit_id"),
        _WRITES.scalar_subquery().label("writes"),
    )
    .select_from(
        folders.outerjoin(
            assets, and_(assets.c.folder_id == folders.c.id, assets.c.name == bindparam("asset"))
        )
        .outerjoin(refs, and_(refs.c.asset_id == assets.c.id, refs.c.name == bindparam("ref")))
        .outerjoin(
            commits, and_(commits.c.asset_id == assets.c.id, commits.c.id == bindparam("ref"))
        )
    )
    .where(*_FOLDER_NAMED)
)
_ASSET_BY_ID = select(assets).where(assets.c.id == bindparam("id"))
_REF = select(refs).where(
    refs.c.asset_id == bindparam("asset_id"), refs.c.name == bindparam("name")
)
_REFS_NAMING = (
    select(commits.c.id, refs.c.name)
    .select_from(commits.outerjoin(refs, refs.c.commit_id == commits.c.id))
    .where(commits.c.id.in_(_ids()))
    .order_by(refs.c.name)
)
_GRANTS = select(grants).where(grants.c.folder_id == bindparam("folder_id"))
_GROUPS_OF = select(group_members.c.group_name).where(group_members.c.member == bindparam("user"))
_COUNT_WRITE = hub_writes.update().where(hub_writes.c.id == 1).values(count=hub_writes.c.count + 1)


def _with_parents(where: Any) -> Select[Any]:
    """Commits and their parents in one query: a commit's row once per parent, in order.

    The columns are ``CommitRow``'s fields in its order (``_commits_from_rows`` reads them
    by position); a commit without parents comes once, with a null parent.
    """
    return (
        select(*(commits.c[f.name] for f in fields(CommitRow)[:-1]), commit_parents.c.parent_id)
        .select_from(commits.outerjoin(commit_parents, commit_parents.c.commit_id == commits.c.id))
        .where(where)
        .order_by(commits.c.id, commit_parents.c.position)
    )


def _near_walk() -> Any:
    """Ids at most ``depth`` parent steps from the ids ``frontier`` (a recursive CTE)."""
    anchor = select(commits.c.id.label("id"), literal(0).label("depth")).where(
        commits.c.id.in_(_ids("frontier"))
    )
    walk = anchor.cte("near", recursive=True)
    return walk.union(
        select(commit_parents.c.parent_id, walk.c.depth + 1)
        .join(walk, commit_parents.c.commit_id == walk.c.id)
        .where(walk.c.depth < bindparam("depth"))
    )


_OF_ASSET = select(commits.c.id).where(
    commits.c.asset_id == bindparam("asset_id"), commits.c.id.in_(_ids())
)
_CHILDREN = select(commit_parents).where(commit_parents.c.parent_id.in_(_ids()))
_CONSUMERS = select(commit_inputs).where(commit_inputs.c.input_id.in_(_ids()))
_WITH_PREFIX = (
    select(commits.c.id)
    .where(commits.c.id >= bindparam("low"), commits.c.id < bindparam("high"))
    .where(commits.c.asset_id + 0 == bindparam("asset_id"))
    .limit(bindparam("limit"))
)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=V1_TABLES)


def _add_store_objects(conn: Connection) -> None:
    metadata.create_all(conn, tables=[store_objects])


def _add_run_cache(conn: Connection) -> None:
    metadata.create_all(conn, tables=[run_cache])


def _add_groups(conn: Connection) -> None:
    metadata.create_all(conn, tables=[groups, group_members])


def _add_hub_writes(conn: Connection) -> None:
    metadata.create_all(conn, tables=[hub_writes])
    conn.execute(hub_writes.insert().values(id=1, count=0))


LEGACY_TREES = "legacy_trees"
"""A setting present in a hub that may hold trees in the legacy, zlib-compressed encoding."""
_MARK_LEGACY_TREES = settings.insert().values(key=LEGACY_TREES, value="1")


def _note_legacy_trees(conn: Connection) -> None:
    """A hub made before tree format v2 names its trees by digests of compressed bytes; say
    so, so that only such a hub pays for comparing trees by more than their digests
    (``HubContext.same_files``). A hub created now has no commit or draft yet."""
    holders = (select(drafts.c.asset_id).limit(1), select(commits.c.id).limit(1))
    if any(conn.execute(query).first() is not None for query in holders):
        conn.execute(_MARK_LEGACY_TREES)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _create_v1,
    _add_store_objects,
    _add_run_cache,
    _add_groups,
    _add_hub_writes,
    _note_legacy_trees,
]
"""Step ``i`` takes a hub from schema version ``i`` to ``i + 1``; append, never edit."""


@dataclass(slots=True)
class CommitRow:
    """A commit as stored. Commits never change: read these, never assign to them.

    Not ``frozen``: a frozen dataclass sets each field through ``object.__setattr__``,
    and building the hundred rows of a log page took 0.15 ms that way against 0.04 ms.
    """

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


_COMMITS = _with_parents(commits.c.id.in_(_ids()))
_NEAR = _with_parents(commits.c.id.in_(select(_near_walk().c.id)))


def _commits_from_rows(rows: Iterable[Sequence[Any]]) -> dict[str, CommitRow]:
    """``CommitRow``s from the rows of a ``_with_parents`` query, by id.

    A log page reads about 100 commits and was 5 ms of server time, most of it per row:
    a JSON decode per row, attribute lookups on SQLAlchemy rows, and a second query for
    the parents. Here the rows are read by position and the four JSON columns of every
    commit are decoded in one ``json.loads`` call (the call, not the parsing, is most of
    the cost of decoding such small objects).
    """
    grouped: list[tuple[Sequence[Any], list[str]]] = []
    for row in rows:
        if grouped and grouped[-1][0][0] == row[0]:
            grouped[-1][1].append(row[11])
        else:
            grouped.append((row, [] if row[11] is None else [row[11]]))
    if not grouped:
        return {}
    documents = json.loads(
        "[" + ",".join(f"[{r[7]},{r[8]},{r[9]},{r[10]}]" for r, _ in grouped) + "]"
    )
    return {
        r[0]: CommitRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], p, m, meta, lin, tuple(parents))
        for (r, parents), (p, m, meta, lin) in zip(grouped, documents, strict=True)
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class MetadataStore:
    """Owns the engine; every method takes the connection of the caller's transaction."""

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        self.engine: Engine = _make_engine(self.url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with _reachable(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, counted in ``hub_writes`` when it commits (see ``writes``)."""
        with self._transaction() as conn:
            yield conn
            conn.execute(_COUNT_WRITE)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """Writers queue on one lock rather than fail (see the module)."""
        with _reachable(), self.engine.connect() as conn:
            conn = conn.execution_options(assethub_write=True)
            with conn.begin():
                yield conn

    @staticmethod
    def writes(conn: Connection) -> int:
        """How many write transactions the hub has committed: equal counts, equal contents.

        Read it before what it vouches for: on PostgreSQL each statement of a read sees
        the latest commits, so what is read after it is at least as new as the count.
        """
        return int(conn.execute(_WRITES).scalar_one())

    # -- schema ----------------------------------------------------------------------------
    def schema_version(self, conn: Connection) -> int:
        if not self.engine.dialect.has_table(conn, "settings"):
            return 0
        value = conn.execute(
            select(settings.c.value).where(settings.c.key == "schema_version")
        ).scalar()
        return int(value) if value is not None else 0

    def migrate(self) -> int:
        """Bring the schema up to date; refuse a hub written by a newer Asset Hub.

        Not counted as a write: every process runs it when it opens the hub, and it changes
        nothing that an answer kept elsewhere was made of.
        """
        with self._transaction() as conn:
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

    @staticmethod
    def holds_legacy_trees(conn: Connection) -> bool:
        found = conn.execute(select(settings.c.key).where(settings.c.key == LEGACY_TREES))
        return found.first() is not None

    def note_legacy_trees(self, conn: Connection) -> None:
        """Trees in the legacy encoding have come in (a pull or clone from such a hub)."""
        if not self.holds_legacy_trees(conn):
            conn.execute(_MARK_LEGACY_TREES)

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
        return _commits_from_rows(conn.execute(_COMMITS, {"ids": list(ids)}).all())

    def commits_with_prefix(
        self, conn: Connection, asset_id: int, prefix: str, limit: int = 2
    ) -> list[str]:
        """Commit ids of the asset starting with ``prefix`` (lowercase hex, checked by the caller).

        A range on the primary key ("g" sorts after every hex digit), not a LIKE: a LIKE with
        ESCAPE cannot use the index and scanned every commit of the asset, so resolving an
        id cost time in proportion to the asset's history. The asset is compared as
        ``asset_id + 0`` for the same reason: SQLite otherwise prefers the index on
        ``(asset_id, created_at)`` to the range, and again read every commit of the asset.
        """
        bounds = {"low": prefix, "high": prefix + "g", "asset_id": asset_id, "limit": limit}
        return list(conn.execute(_WITH_PREFIX, bounds).scalars())

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
        rows = conn.execute(_CHILDREN, {"ids": list(ids)})
        return [(row.parent_id, row.commit_id) for row in rows]

    def consumers_of(self, conn: Connection, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(input, commit) pairs: commits whose lineage names one of ``ids`` as an input."""
        rows = conn.execute(_CONSUMERS, {"ids": list(ids)})
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

    def walk_newest_first(
        self, conn: Connection, frontier: Sequence[str], limit: int, *, asset_id: int
    ) -> tuple[list[CommitRow], list[str]] | None:
        """The next ``limit`` commits of a log, and the frontier that continues it.

        None when ``frontier`` holds an id that is no commit of asset ``asset_id`` (a cursor
        made up, or of another asset): checked on the rows the walk reads anyway.

        The log is git's ``--date-order`` walk: newest first, but no parent before all its
        children. Any commit among the next ``limit`` is at most ``limit`` parent steps from
        the frontier, so one recursive query fetches all the walk can need and a page costs
        the same at the start of a history of 10,000 commits as at its end. Waiting for the
        children is what keeps a commit stamped later than its child (a skewed clock) from
        being listed on one page and again on the next, where a merge reaches it twice; only
        a child more than a page's reach away can still escape that wait.
        """
        graph = self._near_ancestors(conn, frontier, limit)
        if not all((c := graph.get(i)) and c.asset_id == asset_id for i in frontier):
            return None
        waiting = Counter(p for c in graph.values() for p in dict.fromkeys(c.parents) if p in graph)
        heap = [
            (-graph[i].created_at, i)
            for i in dict.fromkeys(frontier)
            if i in graph and not waiting[i]
        ]
        heapq.heapify(heap)
        page: list[CommitRow] = []
        while heap and len(page) < limit:
            _, commit_id = heapq.heappop(heap)
            commit = graph[commit_id]
            page.append(commit)
            for parent in dict.fromkeys(commit.parents):
                if parent in graph:
                    waiting[parent] -= 1
                    if not waiting[parent]:
                        heapq.heappush(heap, (-graph[parent].created_at, parent))
        return page, [i for _, i in sorted(heap)]

    def _near_ancestors(
        self, conn: Connection, frontier: Sequence[str], depth: int
    ) -> dict[str, CommitRow]:
        """Commits at most ``depth`` parent steps from ``frontier``, by id (one query)."""
        return _commits_from_rows(
            conn.execute(_NEAR, {"frontier": list(frontier), "depth": depth}).all()
        )

    def commits_of_asset(self, conn: Connection, asset_id: int, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that are commits of asset ``asset_id``."""
        return set(conn.execute(_OF_ASSET, {"asset_id": asset_id, "ids": list(ids)}).scalars())

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


def engine_url(url: str) -> str:
    """``postgresql://`` (or ``postgres://``) means psycopg 3, the driver this package ships with."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


@contextmanager
def _reachable() -> Iterator[None]:
    """A lost or refused database connection becomes one sentence; the transaction is void."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        text = str(exc.orig or exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise Unavailable(
            f"the hub's database failed ({reason}); nothing half-done was kept: run the command again."
        ) from exc


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            enable_wal(dbapi_connection, synchronous="NORMAL")
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("assethub_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "begin")
        def _serialize_writes(conn: Connection) -> None:
            if conn.get_execution_options().get("assethub_write", False):
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))

    return engine


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


class Lookup(NamedTuple):
    """What resolving a ref reads, in one query (``Catalog.lookup``)."""

    folder: FolderRow | None
    asset: AssetRow | None
    ref: RefRow | None
    full_id: str | None
    """The asset's commit whose full id is the ref's name, if there is one."""
    writes: int | None
    """The hub's count of writes (``MetadataStore.writes``), read before anything else."""


def _folder(row: Any) -> FolderRow:
    return FolderRow(row.id, row.owner, row.type, row.name, row.created_at, row.created_by)


class Catalog:
    """Folder, asset, ref, draft and grant queries (the commit ones live on MetadataStore)."""

    # -- folders ---------------------------------------------------------------------------
    @staticmethod
    def folder(conn: Connection, owner: str, type_: str, name: str) -> FolderRow | None:
        row = conn.execute(_FOLDER, {"owner": owner, "type": type_, "name": name}).first()
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

    @staticmethod
    def lookup(
        conn: Connection, owner: str, type_: str, folder: str, asset: str, ref: str
    ) -> Lookup:
        """A folder, its asset, the asset's ref named ``ref`` and its commit whose full id is
        ``ref``, as far as they exist, and the hub's count of writes.

        One query for what resolving any ref needs (the caller still decides, in order,
        what to say when one is missing, and checks the folder's permission in between).
        """
        row = conn.execute(
            _LOOKUP,
            {"owner": owner, "type": type_, "name": folder, "asset": asset, "ref": ref},
        ).first()
        if row is None:
            return Lookup(None, None, None, None, None)
        found = _folder(row)
        if row.asset_id is None:
            return Lookup(found, None, None, None, row.writes)
        asset_row = AssetRow(
            row.asset_id,
            found,
            row.asset_name,
            row.asset_type,
            row.asset_description,
            row.asset_created_at,
            row.asset_created_by,
        )
        named = RefRow(row.ref_name, row.ref_kind, row.ref_commit_id, row.ref_updated_at)
        ref_row = named if row.ref_name is not None else None
        return Lookup(found, asset_row, ref_row, row.commit_id, row.writes)

    # -- assets ----------------------------------------------------------------------------
    @staticmethod
    def asset(conn: Connection, folder: FolderRow, name: str) -> AssetRow | None:
        row = conn.execute(_ASSET, {"folder_id": folder.id, "name": name}).first()
        return (
            AssetRow(
                row.id, folder, row.name, row.type, row.description, row.created_at, row.created_by
            )
            if row
            else None
        )

    @staticmethod
    def asset_by_id(conn: Connection, asset_id: int) -> AssetRow:
        row = conn.execute(_ASSET_BY_ID, {"id": asset_id}).one()
        folder = _folder(conn.execute(_FOLDER_BY_ID, {"id": row.folder_id}).one())
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
    def find_assets(
        conn: Connection,
        *,
        owner: str | None,
        type_: str | None,
        folder: str | None,
        text: str | None,
        after: tuple[str, str, str, str] | None,
        limit: int,
    ) -> list[AssetRow]:
        """Assets in path order (owner, type, folder, name), filtered, after a path.

        Permissions are not applied here: the caller filters with its one permission check.
        ``text`` matches the name or the description, ignoring case.
        """
        order = (folders.c.owner, folders.c.type, folders.c.name, assets.c.name)
        query = (
            select(
                assets,
                folders.c.owner,
                folders.c.name.label("folder_name"),
                folders.c.created_at.label("folder_created_at"),
                folders.c.created_by.label("folder_created_by"),
            )
            .join(folders, assets.c.folder_id == folders.c.id)
            .order_by(*order)
            .limit(limit)
        )
        for column, wanted in ((folders.c.owner, owner), (folders.c.type, type_)):
            if wanted is not None:
                query = query.where(column == wanted)
        if folder is not None:
            query = query.where(folders.c.name == folder)
        if text:
            needle = text.lower()
            query = query.where(
                or_(
                    func.lower(assets.c.name).contains(needle, autoescape=True),
                    func.lower(assets.c.description).contains(needle, autoescape=True),
                )
            )
        if after is not None:
            query = query.where(tuple_(*order) > tuple_(*after))
        found = []
        for row in conn.execute(query):
            parent = FolderRow(
                row.folder_id,
                row.owner,
                row.type,
                row.folder_name,
                row.folder_created_at,
                row.folder_created_by,
            )
            found.append(
                AssetRow(
                    row.id,
                    parent,
                    row.name,
                    row.type,
                    row.description,
                    row.created_at,
                    row.created_by,
                )
            )
        return found

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
        row = conn.execute(_REF, {"asset_id": asset_id, "name": name}).first()
        return RefRow(row.name, row.kind, row.commit_id, row.updated_at) if row else None

    @staticmethod
    def list_refs(conn: Connection, asset_id: int, kind: str | None = None) -> list[RefRow]:
        query = select(refs).where(refs.c.asset_id == asset_id).order_by(refs.c.name)
        if kind is not None:
            query = query.where(refs.c.kind == kind)
        return [RefRow(r.name, r.kind, r.commit_id, r.updated_at) for r in conn.execute(query)]

    @staticmethod
    def refs_naming(conn: Connection, commit_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each of ``commit_ids`` that exists, with the names of the refs pointing at it.

        One query for a whole graph: which of its commits are still there, and their labels.
        """
        named: dict[str, list[str]] = {}
        for row in conn.execute(_REFS_NAMING, {"ids": list(commit_ids)}):
            names = named.setdefault(row.id, [])
            if row.name is not None:
                names.append(row.name)
        return named

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
        rows = conn.execute(_GRANTS, {"folder_id": folder_id})
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

    # -- groups ----------------------------------------------------------------------------
    @staticmethod
    def group_owner(conn: Connection, name: str) -> str | None:
        return conn.execute(select(groups.c.owner).where(groups.c.name == name)).scalar()

    @staticmethod
    def insert_group(conn: Connection, name: str, owner: str) -> None:
        conn.execute(groups.insert().values(name=name, owner=owner, created_at=time.time()))

    @staticmethod
    def delete_group(conn: Connection, name: str) -> None:
        """The group, its members and every grant to it (a later group of that name starts bare)."""
        conn.execute(grants.delete().where(grants.c.principal == f"@{name}"))
        conn.execute(group_members.delete().where(group_members.c.group_name == name))
        conn.execute(groups.delete().where(groups.c.name == name))

    @staticmethod
    def set_member(conn: Connection, name: str, member: str, present: bool) -> None:
        where = (group_members.c.group_name == name, group_members.c.member == member)
        conn.execute(group_members.delete().where(*where))
        if present:
            conn.execute(group_members.insert().values(group_name=name, member=member))

    @staticmethod
    def list_groups(conn: Connection) -> dict[str, tuple[str, list[str]]]:
        """Every group: name -> (owner, sorted members)."""
        found: dict[str, tuple[str, list[str]]] = {
            row.name: (row.owner, [])
            for row in conn.execute(select(groups).order_by(groups.c.name))
        }
        query = select(group_members).order_by(group_members.c.member)
        for row in conn.execute(query):
            found[row.group_name][1].append(row.member)
        return found

    @staticmethod
    def groups_of(conn: Connection, user: str) -> list[str]:
        return list(conn.execute(_GROUPS_OF, {"user": user}).scalars())

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
