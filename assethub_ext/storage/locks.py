"""The writers' lock: object writers share it, gc takes it exclusively without waiting.

A writer holds it from the moment it opens until the metadata naming its objects is
committed; gc removes objects only while it holds it exclusively, so it never deletes
what a commit in flight is about to name. On one machine a ``flock`` on a file does this.
A team hub has writers on many machines, so there the lock lives in PostgreSQL as a
session-level advisory lock (shared for writers, ``pg_try_advisory_lock`` for gc): it is
held by a database session and released by PostgreSQL itself if that session dies.
"""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

WRITERS_LOCK_KEY = 0x61737368_75627772  # "asshubwr": one key for every hub in a database


class HeldLock(Protocol):
    def release(self) -> None: ...


class WritersLock(Protocol):
    def acquire(self, *, exclusive: bool) -> HeldLock | None:
        """Shared: wait for it. Exclusive: take it at once or return None (writers active)."""


class _HeldFlock:
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class FileWritersLock:
    """``flock`` on one file: for hubs whose writers all run on one machine."""

    def __init__(self, path: str) -> None:
        self.path = path

    def acquire(self, *, exclusive: bool) -> HeldLock | None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            os.close(fd)
            return None
        return _HeldFlock(fd)


class _HeldAdvisory:
    def __init__(self, conn: Connection, unlock: str) -> None:
        self._conn: Connection | None = conn
        self._unlock = unlock

    def release(self) -> None:
        """Unlock, then return the session to the pool; a session that cannot unlock is dropped."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.exec_driver_sql(self._unlock, (WRITERS_LOCK_KEY,))
        except Exception:
            conn.invalidate()  # closing the session releases its locks in PostgreSQL
        finally:
            conn.close()


class PostgresWritersLock:
    """An advisory lock in the hub's PostgreSQL database, seen by writers on every machine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(self, *, exclusive: bool) -> HeldLock | None:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if exclusive:
                got = conn.exec_driver_sql(
                    "SELECT pg_try_advisory_lock(%s)", (WRITERS_LOCK_KEY,)
                ).scalar()
                if not got:
                    conn.close()
                    return None
                return _HeldAdvisory(conn, "SELECT pg_advisory_unlock(%s)")
            conn.exec_driver_sql("SELECT pg_advisory_lock_shared(%s)", (WRITERS_LOCK_KEY,))
            return _HeldAdvisory(conn, "SELECT pg_advisory_unlock_shared(%s)")
        except BaseException:
            conn.invalidate()
            conn.close()
            raise


def writers_lock_for(engine: Engine, lock_file: str) -> WritersLock:
    """The advisory lock for a PostgreSQL hub, else a file lock beside the store."""
    if engine.dialect.name == "postgresql":
        return PostgresWritersLock(engine)
    return FileWritersLock(lock_file)
