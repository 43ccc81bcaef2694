"""The team hub: PostgreSQL metadata and S3 objects, with their faults.

Every test here runs on each backend it applies to (see ``conftest.py``); the faults are
real: a PostgreSQL backend terminated in the middle of a commit's transaction.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from conftest import read_files, subprocess_env, write_files

from assethub_ext import Hub

MODEL = "alice/model/f/m"

COMMITTER = r"""
import json, sys
from assethub_ext import Hub
from assethub_ext.core.errors import AssetHubError

home, ref, source = sys.argv[1:4]
try:
    with Hub(home, user="alice") as hub:
        print(json.dumps({"ok": True, "id": hub.commit(ref, source, message="late").id}))
except AssetHubError as err:
    print(json.dumps({"ok": False, "type": type(err).__name__, "message": str(err)}))
"""


def test_the_hub_opens_the_backend_it_was_given(backend: str, hub: Hub) -> None:
    db, store = backend.split("-")
    assert hub.meta.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[db]
    assert type(hub.objects).__name__ == {"local": "LocalObjectStore", "s3": "S3ObjectStore"}[store]


def _wait_for_blocked_update(admin: psycopg.Connection, database: str) -> int:
    """The backend of the writer that waits on the locked ref row (polled, not timed)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
            " AND query ILIKE 'UPDATE refs%%'",
            (database,),
        ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.01)
    raise AssertionError("the writer never reached the ref update")


def test_connection_dropped_mid_commit_leaves_nothing_half_visible(
    backend: str, hub: Hub, tmp_path: Path
) -> None:
    """The writer's commit row is inserted, its ref update waits on a row we lock, and then
    its database session is terminated: no trace of the commit may remain, and a rerun lands."""
    if not backend.startswith("postgres"):
        pytest.skip("terminating a database session needs PostgreSQL")
    hub.create(MODEL)
    first = hub.commit(f"{MODEL}:main", str(write_files(tmp_path / "m0", {"w.bin": "0"}))).id
    source = write_files(tmp_path / "m1", {"w.bin": "1", "big.bin": b"x" * (2 << 20)})
    commits_before = hub.fsck().commits
    url = str(hub.meta.engine.url.set(drivername="postgresql"))
    database = hub.meta.engine.url.database
    script = tmp_path / "committer.py"
    script.write_text(COMMITTER)

    with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as admin:
        locker.execute("SELECT * FROM refs WHERE name = 'main' FOR UPDATE")
        writer = subprocess.Popen(
            [sys.executable, str(script), hub.config.home, f"{MODEL}:main", str(source)],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        pid = _wait_for_blocked_update(admin, database or "")
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = writer.communicate(timeout=120)
        locker.rollback()

    assert writer.returncode == 0, err
    result = json.loads(out)
    assert not result["ok"] and result["type"] == "Unavailable", result
    assert "again" in result["message"] and "\n" not in result["message"]
    with Hub(hub.config.home, user="alice") as fresh:
        assert [c.id for c in fresh.log(f"{MODEL}:main")] == [first]
        report = fresh.fsck()
        assert report.ok, report.problems
        assert report.commits == commits_before
        again = fresh.commit(f"{MODEL}:main", str(source), message="again")
        assert again.parents == (first,)
        fresh.checkout(f"{MODEL}:main", str(tmp_path / "co"))
    assert read_files(tmp_path / "co") == read_files(source)


def test_an_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    env = {
        **subprocess_env(),
        "ASSETHUB_HOME": str(tmp_path / "hub"),
        "ASSETHUB_DB": "postgresql://nobody@127.0.0.1:1/none",
        "ASSETHUB_USER": "alice",
    }
    done = subprocess.run(
        [sys.executable, "-m", "assethub_ext", "ls"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: the hub's database failed"), done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
