"""The workspace index: what this machine already knows about files on its disks.

Like git's index, it remembers each file's stat (size, mtime, ctime, inode) with the hash of
its bytes, so adding an unchanged tree of 20,000 files costs a ``stat`` per file and no
reading. It also remembers which tree each source folder had when it was last added or
checked out, which answers ``assethub status`` without touching the hub's database.

It is a plain SQLite file under ``ASSETHUB_HOME`` (standard library only: no SQLAlchemy,
so ``status`` starts fast). It is a cache: losing it costs a re-hash, never data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import cached_property
from typing import TYPE_CHECKING

from .errors import StorageFull
from .hashing import hash_bytes
from .scan import SourceFile, StatStamp

if TYPE_CHECKING:
    import sqlite3

RACY_MARGIN_NS = 50_000_000
"""A file modified within this long before it was hashed is re-hashed next time: file
systems stamp mtimes with a coarse clock, so a write right after the hash could otherwise
leave the same mtime behind (git's "racily clean" problem)."""


NO_ROOM_MESSAGES = frozenset(
    {"database or disk is full", "disk I/O error", "attempt to write a readonly database"}
)
"""What SQLite says when a write finds no room (or a read-only disk) under the index."""

IndexRow = tuple[int, int, int, int, str, int]
"""(size, mtime_ns, ctime_ns, inode, digest, hashed_at_ns) of one recorded file."""


def fresh_digest(row: IndexRow, size: int, mtime_ns: int, ctime_ns: int, ino: int) -> str | None:
    """The recorded digest, if the file's stat still matches and was not racily clean."""
    if row[:4] == (size, mtime_ns, ctime_ns, ino) and mtime_ns < row[5] - RACY_MARGIN_NS:
        return row[4]
    return None


def trusted_fingerprint(stamp: StatStamp | None, scanned_at_ns: int) -> str | None:
    """A stamp's fingerprint, unless a file in it may have been racily clean when scanned."""
    if stamp is None or stamp.newest_mtime_ns >= scanned_at_ns - RACY_MARGIN_NS:
        return None
    return stamp.fingerprint


class WorkspaceIndex:
    """The index's SQLite file, opened on first use, and a folder of stat stamps beside it.

    A stamp is one small file per (asset, source folder) holding the stat fingerprint
    recorded with the folder's tree: ``status`` of an unchanged folder reads that file and
    never imports or opens SQLite (5 ms of its 100). A stamp is only a shortcut: without
    one (never written, or removed), status compares the files against the index.
    """

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._stamps = path + ".stamps"

    @cached_property
    def _db(self) -> sqlite3.Connection:
        import sqlite3  # not at the top: an unchanged folder's status never opens the index

        from .sqlite_wal import enable_wal

        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        enable_wal(db, synchronous="OFF")
        db.executescript(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
            " ctime_ns INTEGER, ino INTEGER, digest TEXT, hashed_at_ns INTEGER) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS sources (asset TEXT, root TEXT, tree TEXT, revision INTEGER,"
            " recorded_at REAL, PRIMARY KEY (asset, root)) WITHOUT ROWID;"
            "DROP TABLE IF EXISTS stamps;"  # stamps lived here before they became files
        )
        return db

    def known_digests(self, files: Iterable[SourceFile]) -> dict[str, str]:
        """path -> digest for every file whose stat matches what was recorded."""
        by_path = {f.path: f for f in files}
        if not by_path:
            return {}
        rows = self.rows_between(min(by_path), max(by_path))
        known: dict[str, str] = {}
        for path, row in rows.items():
            current = by_path.get(path)
            if current is not None:
                digest = fresh_digest(
                    row, current.size, current.mtime_ns, current.ctime_ns, current.ino
                )
                if digest is not None:
                    known[path] = digest
        return known

    def rows_between(self, low: str, high: str) -> dict[str, IndexRow]:
        """Recorded rows for paths from ``low`` to ``high`` (one range scan of the index)."""
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, ctime_ns, ino, digest, hashed_at_ns FROM files"
            " WHERE path >= ? AND path <= ?",
            (low, high),
        )
        return {row[0]: row[1:] for row in rows}

    def remember(self, files: Iterable[tuple[SourceFile, str]], hashed_at_ns: int) -> None:
        rows = [(f.path, f.size, f.mtime_ns, f.ctime_ns, f.ino, d, hashed_at_ns) for f, d in files]
        if rows:
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )

    def remember_source(
        self, asset: str, root: str, tree: str, revision: int, fingerprint: str | None
    ) -> None:
        """Record the tree a source folder had, and its stat stamp when that can be trusted.

        The old stamp goes first and the new one is written only once the row is in: at no
        moment does a stamp stand for a tree the index no longer records.
        """
        stamp = self._stamp_path(asset, root)
        with suppress(FileNotFoundError):
            os.unlink(stamp)
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?)",
                (asset, root, tree, revision, time.time()),
            )
        if fingerprint is not None:
            _write_stamp(stamp, fingerprint)

    def stamp(self, asset: str, root: str) -> str | None:
        """The stat fingerprint recorded with a source folder's tree, if any (no SQLite)."""
        try:
            with open(self._stamp_path(asset, root), encoding="ascii") as handle:
                return handle.read()
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def _stamp_path(self, asset: str, root: str) -> str:
        key = f"{asset}\0{root}".encode("utf-8", "surrogateescape")
        return os.path.join(self._stamps, hash_bytes(key)[:32])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, rolled back on any failure; a disk with no room (SQLite
        then says "database or disk is full", or "disk I/O error" when the log cannot
        grow) is one sentence. Whatever the hub saved before stays: recording it again
        is the next add's work, so running the command again repairs the index."""
        import sqlite3  # loaded already: ``_db`` opened it

        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if str(exc) not in NO_ROOM_MESSAGES:
                raise
            raise StorageFull(
                f"the workspace index '{self.path}' could not be written ({exc}); what the hub"
                " saved stays: make room and run the command again."
            ) from exc

    def source(self, asset: str, root: str) -> str | None:
        """The tree recorded for a source folder, if any."""
        row = self._db.execute(
            "SELECT tree FROM sources WHERE asset=? AND root=?", (asset, root)
        ).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        if "_db" in self.__dict__:  # opened
            self._db.close()


def _write_stamp(path: str, fingerprint: str) -> None:
    """Write a stamp whole or not at all; a disk with no room leaves none (status then
    compares files, as for a folder never stamped)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(fingerprint)
        os.replace(tmp, path)
    except OSError:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
