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
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from .errors import StorageFull
from .scan import SourceFile, StatStamp
from .sqlite_wal import enable_wal

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
    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        enable_wal(self._db, synchronous="OFF")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
            " ctime_ns INTEGER, ino INTEGER, digest TEXT, hashed_at_ns INTEGER) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS sources (asset TEXT, root TEXT, tree TEXT, revision INTEGER,"
            " recorded_at REAL, PRIMARY KEY (asset, root)) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS stamps (asset TEXT, root TEXT, fingerprint TEXT,"
            " PRIMARY KEY (asset, root)) WITHOUT ROWID;"
        )

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
        """Record the tree a source folder had, and its stat stamp when that can be trusted."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?)",
                (asset, root, tree, revision, time.time()),
            )
            self._db.execute("DELETE FROM stamps WHERE asset=? AND root=?", (asset, root))
            if fingerprint is not None:
                self._db.execute("INSERT INTO stamps VALUES (?, ?, ?)", (asset, root, fingerprint))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, rolled back on any failure; a disk with no room (SQLite
        then says "database or disk is full", or "disk I/O error" when the log cannot
        grow) is one sentence. Whatever the hub saved before stays: recording it again
        is the next add's work, so running the command again repairs the index."""
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

    def source(self, asset: str, root: str) -> tuple[str, str | None] | None:
        """(tree, stat fingerprint or None) recorded for a source folder, if any."""
        row = self._db.execute(
            "SELECT s.tree, t.fingerprint FROM sources s LEFT JOIN stamps t"
            " ON t.asset = s.asset AND t.root = s.root WHERE s.asset=? AND s.root=?",
            (asset, root),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def close(self) -> None:
        self._db.close()
