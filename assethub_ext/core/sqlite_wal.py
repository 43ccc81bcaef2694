"""Switching a SQLite file to write-ahead logging safely when several processes open it.

Every SQLite file of ours (the hub's metadata, the object index, the workspace index, a
sweep's study) runs in WAL mode. ``PRAGMA journal_mode=WAL`` on a file that is still in
rollback mode needs an exclusive lock, and SQLite answers "database is locked" at once,
without waiting for the busy timeout, when another process holds a lock at that moment.
That happens whenever several processes open a brand-new file together (parallel
workers' first commit to a fresh hub), so the switch is retried here until the timeout.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Literal

RETRY_PAUSE_S = 0.005


def enable_wal(
    connection: Any, synchronous: Literal["OFF", "NORMAL"], timeout_s: float = 60.0
) -> None:
    """Put ``connection`` (a DB-API sqlite3 connection) in WAL mode with ``synchronous``.

    Only "database is locked" is retried; any other error is the caller's to report.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_PAUSE_S)
    connection.execute(f"PRAGMA synchronous={synchronous}")
