"""The team hub: PostgreSQL metadata and S3 objects, with their faults.

Every test here runs on each backend it applies to (see ``conftest.py``); the faults are
real: a PostgreSQL session terminated in the middle of a commit's transaction, the S3
server stopped in the middle of an upload, keys corrupted or removed behind the hub's back.
Eight processes racing for one branch on each backend are in ``test_concurrency.py``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import read_files, subprocess_env, write_files
from servers import S3Server, requests_with

from assethub_ext import Hub
from assethub_ext.core.errors import IntegrityError, NotFound
from assethub_ext.storage.objects import LOOSE_THRESHOLD
from assethub_ext.storage.s3 import S3ObjectStore

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


@pytest.mark.backends("postgres-local", "postgres-s3")
def test_connection_dropped_mid_commit_leaves_nothing_half_visible(
    hub: Hub, tmp_path: Path
) -> None:
    """The writer's commit row is inserted, its ref update waits on a row we lock, and then
    its database session is terminated: no trace of the commit may remain, and a rerun lands."""
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


# -- S3 ------------------------------------------------------------------------------------

ON_S3 = pytest.mark.backends("sqlite-s3", "postgres-s3")


def _keys(s3_server: S3Server, hub: Hub) -> dict[str, Any]:
    """key -> the listing entry, for every key of the hub's store."""
    store = hub.objects
    assert isinstance(store, S3ObjectStore)
    return s3_server.keys(store.bucket, store.prefix)


@ON_S3
def test_small_files_travel_in_packs_and_the_cache_serves_checkouts(
    hub: Hub, s3_server: S3Server, tmp_path: Path
) -> None:
    files = {f"d{i % 7}/f{i}.txt": f"small {i}" for i in range(300)}
    files["big.bin"] = os.urandom(LOOSE_THRESHOLD + 1)
    source = write_files(tmp_path / "src", files)
    hub.create(MODEL)
    hub.commit(f"{MODEL}:main", str(source))
    keys = _keys(s3_server, hub)
    assert len([k for k in keys if "/packs/" in k]) == 1, keys  # 300 files + a tree: one pack
    assert len([k for k in keys if "/objects/" in k]) == 1  # the large file has a key
    hub.checkout(f"{MODEL}:main", str(tmp_path / "first"))
    s3_server.stop()
    try:
        hub.checkout(f"{MODEL}:main", str(tmp_path / "again"), link="hardlink")
    finally:
        s3_server.start()
    assert read_files(tmp_path / "again") == read_files(source)


@ON_S3
def test_s3_fsck_finds_corrupt_and_missing_keys_and_reads_verify(
    hub: Hub, s3_server: S3Server, tmp_path: Path
) -> None:
    hub.create(MODEL)
    source = write_files(tmp_path / "w", {"big": os.urandom(2 << 20), "small": "s"})
    hub.commit(f"{MODEL}:main", str(source))
    assert hub.fsck().ok
    key = next(k for k in _keys(s3_server, hub) if "/objects/" in k)
    store = hub.objects
    assert isinstance(store, S3ObjectStore)
    s3_server.client().put_object(Bucket=store.bucket, Key=key, Body=b"X" * (2 << 20))
    report = hub.fsck()
    assert not report.ok and any("corrupt" in p for p in report.problems)
    with pytest.raises(IntegrityError, match="corrupt"):
        hub.checkout(MODEL, str(tmp_path / "co"))
    s3_server.client().delete_object(Bucket=store.bucket, Key=key)
    assert any("missing" in p for p in hub.fsck(verify=False).problems)


@ON_S3
def test_s3_stray_keys_are_reported_and_collected(hub: Hub, s3_server: S3Server) -> None:
    hub.init()
    store = hub.objects
    assert isinstance(store, S3ObjectStore)
    stray = store.pack_key("0" * 32)
    s3_server.client().put_object(Bucket=store.bucket, Key=stray, Body=b"half a batch")
    assert f"s3://{store.bucket}/{stray}" in hub.fsck().stray
    assert hub.gc().stray_removed == 0  # young: it may be a batch about to land
    assert hub.gc(grace_seconds=0).stray_removed == 1
    assert stray not in _keys(s3_server, hub)


@ON_S3
def test_s3_stopped_mid_upload_then_the_commit_resumes(
    hub: Hub,
    s3_server: S3Server,
    cli_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server goes away after the first large object landed: the commit fails in one
    sentence, nothing is indexed; run again, it completes and what landed is not sent again."""
    hub.create(MODEL)
    source = write_files(
        tmp_path / "w", {f"part{i:02d}.bin": os.urandom(2 << 20) for i in range(24)}
    )
    writer = subprocess.Popen(
        [sys.executable, "-m", "assethub_ext", "commit", f"{MODEL}:main", str(source)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = hub.objects
    assert isinstance(store, S3ObjectStore)
    s3_server.stop_once_an_object_landed(store.bucket, store.prefix, writer)
    _, err = writer.communicate(timeout=300)
    s3_server.start()
    assert writer.returncode == 1, err
    assert err.startswith("error: the object store failed") and "again" in err, err
    landed = {k for k in _keys(s3_server, hub) if "/objects/" in k}
    assert 0 < len(landed) < 24
    assert hub.fsck(verify=False).ok
    with pytest.raises(NotFound):
        hub.log(f"{MODEL}:main")  # nothing of the failed commit is visible

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        done = hub.commit(f"{MODEL}:main", str(source), message="resumed")
    sent = requests_with(caplog.records, "PUT")
    assert sent, "the objects that had not landed were not uploaded"
    assert not [line for line in sent for key in landed if key in line], (
        "a landed object was sent again"
    )
    assert len({k for k in _keys(s3_server, hub) if "/objects/" in k}) == 24
    hub.checkout(f"{MODEL}:{done.id}", str(tmp_path / "co"))
    assert read_files(tmp_path / "co") == read_files(source)
    assert hub.fsck().ok
