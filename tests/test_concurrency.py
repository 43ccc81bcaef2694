"""Writers racing each other, and gc racing a writer, in separate processes.

Commits to one branch: every process succeeds or gets ``BranchMoved``; every success is in
the branch's history and nothing else is. Adds to one draft: the draft holds exactly the
adds that succeeded. ``gc --grace 0`` paused into the middle of a commit (or an add): the
change lands whole or fails with a clear "run it again" error, never a commit whose
objects are gone.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import read_files, subprocess_env, write_files

from assethub_ext import Hub
from assethub_ext.core.hashing import hash_bytes
from assethub_ext.core.names import parse_asset_path

DATASET = "alice/dataset/f/d"
MODEL = "alice/model/f/m"
BIG = 1024 * 1024 + 4096  # a loose object

WAIT_FOR_ALL = r"""
import os, time

def wait_for_all(barrier, me, count, round_):
    open(os.path.join(barrier, f"r{round_}.{me}"), "w").close()
    deadline = time.monotonic() + 120
    while sum(n.startswith(f"r{round_}.") for n in os.listdir(barrier)) < count:
        if time.monotonic() > deadline:
            raise SystemExit("barrier timeout")
        time.sleep(0.0002)
"""

WORKER = (
    WAIT_FOR_ALL
    + r"""
import json, sys, traceback

spec = json.loads(sys.argv[1])
from assethub_ext import Hub
from assethub_ext.core.errors import AssetHubError

hub = Hub(spec["home"], user="alice")
hub.meta, hub.objects, hub.index  # opened before the start line, so all start together
barrier, me, count = spec["barrier"], spec["index"], spec["count"]

for round_, source in enumerate(spec["sources"]):
    wait_for_all(barrier, me, count, round_)
    result = {"round": round_, "worker": me, "source": source}
    try:
        if spec["op"] == "commit":
            done = hub.commit(spec["target"], source, message=f"r{round_}w{me}")
            result.update(ok=True, id=done.id, parents=list(done.parents))
        else:
            done = hub.add(spec["target"], [source])
            result.update(ok=True, revision=done.revision)
    except AssetHubError as err:
        result.update(ok=False, type=type(err).__name__, message=str(err), hub_error=True)
    except Exception as err:
        result.update(ok=False, type=type(err).__name__, message=str(err), hub_error=False,
                      traceback=traceback.format_exc())
    print(json.dumps(result), flush=True)
hub.close()
"""
)


def _run_workers(
    tmp_path: Path, home: Path, op: str, target: str, sources: list[list[Path]]
) -> list[dict[str, Any]]:
    """``sources[w][r]``: what worker ``w`` uses in round ``r``; returns every result."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    barrier = tmp_path / f"barrier-{op}-{len(sources)}"
    barrier.mkdir()
    env = subprocess_env()
    procs = []
    for index, mine in enumerate(sources):
        spec = {
            "home": str(home),
            "op": op,
            "target": target,
            "barrier": str(barrier),
            "index": index,
            "count": len(sources),
            "sources": [str(s) for s in mine],
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), json.dumps(spec)],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results += [json.loads(line) for line in out.splitlines()]
    assert len(results) == sum(len(s) for s in sources)
    return results


def _unexpected(results: list[dict[str, Any]], message_part: str) -> list[dict[str, Any]]:
    return [
        r
        for r in results
        if not r["ok"] and not (r["type"] == "BranchMoved" and message_part in r["message"])
    ]


OPENER = (
    WAIT_FOR_ALL
    + r"""
import sys
from assethub_ext.core.workspace_index import WorkspaceIndex
from assethub_ext.storage.local import LocalObjectStore

root, me, count, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for round_ in range(rounds):
    wait_for_all(root, me, count, round_)
    index = WorkspaceIndex(os.path.join(root, f"fresh-{round_}", "workspace.sqlite"))
    index.source("any/dataset/f/d", root)  # opens the file, as an add does
    index.close()
    LocalObjectStore(os.path.join(root, f"fresh-{round_}", "store")).close()
"""
)


def test_processes_opening_fresh_sqlite_files_together_all_succeed(tmp_path: Path) -> None:
    """Switching a new SQLite file to WAL fails at once, without waiting, while another
    process holds a lock on it; parallel workers' first use of a fresh hub hits exactly
    that, so every opener must get through and leave the file in WAL mode."""
    workers, rounds = 6, 15
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), str(w), str(workers), str(rounds)],
            env=subprocess_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    errors = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * workers, errors
    for round_ in range(rounds):
        fresh = tmp_path / f"fresh-{round_}"
        for db in (fresh / "workspace.sqlite", fresh / "store" / "index.sqlite"):
            with sqlite3.connect(db) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",), db


# -- commits racing on one branch -----------------------------------------------------------


@pytest.mark.parametrize(("workers", "rounds"), [(2, 5), (8, 3)])
def test_racing_commits_lose_nothing(workers: int, rounds: int, hub: Hub, tmp_path: Path) -> None:
    hub.create(MODEL)
    first = hub.commit(f"{MODEL}:main", str(write_files(tmp_path / "w0", {"w.bin": "0"}))).id
    sources = [
        [
            write_files(
                tmp_path / f"src-{w}-{r}", {"w.bin": f"worker {w} round {r}", f"only-{w}.txt": "x"}
            )
            for r in range(rounds)
        ]
        for w in range(workers)
    ]

    results = _run_workers(tmp_path, Path(hub.config.home), "commit", f"{MODEL}:main", sources)

    assert not _unexpected(results, "branch 'main' moved"), _unexpected(
        results, "branch 'main' moved"
    )
    wins = [r for r in results if r["ok"]]
    for round_ in range(rounds):
        assert any(r["round"] == round_ for r in wins), f"nobody won round {round_}"
    assert len(wins) < len(results), "no process ever lost the race: the race was not exercised"

    log = hub.log(f"{MODEL}:main")
    ids = [c.id for c in log]
    assert len(ids) == len(set(ids)) == len(wins) + 1, (
        "the log holds more or fewer commits than succeeded"
    )
    assert set(ids) == {r["id"] for r in wins} | {first}, (
        "a successful commit is missing from the log"
    )
    for child, parent in itertools.pairwise(log):
        assert child.parents == (parent.id,), "history is not one line"
    assert log[-1].id == first
    for win in wins:
        assert (
            hub.show(f"{MODEL}:{win['id']}")["commit"].message == f"r{win['round']}w{win['worker']}"
        )
    report = hub.fsck()
    assert report.ok, report.problems
    head_source = next(Path(r["source"]) for r in wins if r["id"] == ids[0])
    hub.checkout(f"{MODEL}:main", str(tmp_path / "co"))
    assert read_files(tmp_path / "co") == read_files(head_source)


def test_racing_first_commits_create_the_branch_once(hub: Hub, tmp_path: Path) -> None:
    """Before a model has any commit, racing writers all try to create 'main'."""
    hub.create(MODEL)
    sources = [[write_files(tmp_path / f"first-{w}", {"w.bin": f"first {w}"})] for w in range(4)]
    results = _run_workers(tmp_path, Path(hub.config.home), "commit", f"{MODEL}:main", sources)
    bad = [
        r for r in results if not r["ok"] and not (r["type"] == "BranchMoved" and r["hub_error"])
    ]
    assert not bad, bad
    wins = [r for r in results if r["ok"]]
    assert wins
    # A writer that started late builds on the winner; none may replace it.
    log = hub.log(f"{MODEL}:main")
    assert len(log) == len(wins) and {c.id for c in log} == {r["id"] for r in wins}
    assert log[-1].parents == ()
    assert [r["id"] for r in wins if not r["parents"]] == [log[-1].id], "two first commits"
    assert hub.fsck().ok


# -- adds racing on one draft ---------------------------------------------------------------


def _draft_row(hub: Hub) -> Any:
    with hub.meta.read() as conn:
        asset = hub._asset(conn, parse_asset_path(DATASET))
        return hub.catalog.draft(conn, asset.id)


@pytest.mark.parametrize(("workers", "rounds"), [(2, 5), (8, 2)])
def test_racing_adds_keep_exactly_the_successful_ones(
    workers: int, rounds: int, hub: Hub, tmp_path: Path
) -> None:
    hub.create(DATASET)
    hub.add(DATASET, [str(write_files(tmp_path / "base", {"seed.txt": "seed"}))])
    start_revision = _draft_row(hub).revision
    sources = [
        [
            write_files(
                tmp_path / "sources" / f"r{r}w{w}",
                {"a.txt": f"{r}/{w}", "sub/b.bin": os.urandom(64)},
            )
            for r in range(rounds)
        ]
        for w in range(workers)
    ]

    results = _run_workers(tmp_path, Path(hub.config.home), "add", DATASET, sources)

    assert not _unexpected(results, "draft changed"), _unexpected(results, "draft changed")
    wins = [r for r in results if r["ok"]]
    assert wins
    draft = _draft_row(hub)
    assert draft.revision == start_revision + len(wins), "a successful add was overwritten"
    assert sorted(r["revision"] for r in wins) == list(
        range(start_revision + 1, draft.revision + 1)
    )
    tree = hub.load_tree(draft.tree)
    landed = {path.split("/")[0] for path in tree}
    assert landed == {"base"} | {Path(r["source"]).name for r in wins}
    for win in wins:
        name = Path(win["source"]).name
        expected = read_files(Path(win["source"]))
        assert {
            p.split("/", 1)[1]: e.digest for p, e in tree.items() if p.startswith(name + "/")
        } == {rel: hash_bytes(data) for rel, data in expected.items()}
    report = hub.fsck()
    assert report.ok, report.problems


# -- gc racing a writer ---------------------------------------------------------------------

GC_WRITER = r"""
import json, os, sys, time, traceback

spec = json.loads(sys.argv[1])
import assethub_ext.storage.local as local
import assethub_ext.storage.s3 as s3
from assethub_ext import Hub
from assethub_ext.core.errors import AssetHubError

calls = []

def pause():
    open(os.path.join(spec["sync"], "paused"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(spec["sync"], "resume")):
        if time.monotonic() > deadline:
            raise SystemExit("never resumed")
        time.sleep(0.001)

def hook(cls):
    original = cls.commit

    def hooked(self, *args, **kwargs):
        calls.append(1)
        first = len(calls) == 1
        if first and spec["pause"] == "before-objects":
            pause()  # the batch is written (local: to tmp/; S3: partly uploaded), not indexed
        original(self, *args, **kwargs)
        if first and spec["pause"] == "after-objects":
            pause()  # the objects are indexed; the metadata does not name them yet

    cls.commit = hooked

# the hub's own writer (an S3 hub's cache is a local store whose batches must not pause)
on_s3 = os.environ.get("ASSETHUB_STORE", "").startswith("s3://")
hook(s3.S3ObjectWriter if on_s3 else local.LocalObjectWriter)
hub = Hub(spec["home"], user="alice")
result = {}
try:
    if spec["op"] == "commit":
        result.update(ok=True, id=hub.commit(spec["target"], spec["source"], message="racing gc").id)
    else:
        result.update(ok=True, revision=hub.add(spec["target"], [spec["source"]]).revision)
except AssetHubError as err:
    result.update(ok=False, type=type(err).__name__, message=str(err), hub_error=True)
except Exception as err:
    result.update(ok=False, type=type(err).__name__, message=str(err), hub_error=False,
                  traceback=traceback.format_exc())
print(json.dumps(result), flush=True)
"""


def _prepare_gc_race(hub: Hub, tmp_path: Path, op: str, content: str) -> tuple[str, Path]:
    """A hub where ``source`` is either new or already stored but unreachable (garbage)."""
    payload = {"big.bin": os.urandom(BIG), "small.txt": "small", "sub/cfg.json": '{"k": 1}'}
    source = write_files(tmp_path / f"{op}-{content}" / "payload", payload)
    if op == "commit":
        hub.create(MODEL)
        hub.commit(f"{MODEL}:main", str(write_files(tmp_path / "w0", {"w.bin": "zero"})))
        if content == "reuse":
            hub.branch_create(f"{MODEL}:main", "exp")
            hub.commit(f"{MODEL}:exp", str(source))
            hub.branch_delete(MODEL, "exp", force=True)
        return f"{MODEL}:main", source
    hub.create(DATASET)
    hub.add(DATASET, [str(write_files(tmp_path / "seed", {"seed.txt": "seed"}))])
    if content == "reuse":
        hub.add(DATASET, [str(source)])
        hub.rm(DATASET, ["payload"])
    return DATASET, source


@pytest.mark.parametrize("content", ["reuse", "new"])
@pytest.mark.parametrize("pause", ["before-objects", "after-objects"])
@pytest.mark.parametrize("op", ["commit", "add"])
def test_gc_with_no_grace_racing_a_writer(
    op: str, pause: str, content: str, hub: Hub, tmp_path: Path
) -> None:
    target, source = _prepare_gc_race(hub, tmp_path, op, content)
    head_before = hub.log(f"{MODEL}:main")[0].id if op == "commit" else None
    sync = tmp_path / "sync"
    sync.mkdir()
    script = tmp_path / "gc_writer.py"
    script.write_text(GC_WRITER)
    spec = {
        "home": hub.config.home,
        "op": op,
        "target": target,
        "source": str(source),
        "pause": pause,
        "sync": str(sync),
    }
    env = subprocess_env()
    writer = subprocess.Popen(
        [sys.executable, str(script), json.dumps(spec)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (sync / "paused").exists():
        assert writer.poll() is None, writer.communicate()
        assert time.monotonic() < deadline, "the writer never reached its pause"
        time.sleep(0.001)

    with Hub(hub.config.home, user="alice") as collector:
        gc_report = collector.gc(grace_seconds=0)
    (sync / "resume").touch()
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    result = json.loads(out)

    with Hub(hub.config.home, user="alice") as fresh:
        report = fresh.fsck()
        if result["ok"]:
            assert report.ok, (
                f"the {op} landed but its objects are gone ({gc_report}): {report.problems}"
            )
            dest = tmp_path / "co"
            ref = f"{MODEL}:main" if op == "commit" else f"{DATASET}:draft"
            fresh.checkout(ref, str(dest))
            files = read_files(dest)
            expected = read_files(source)
            if op == "add":
                files = {
                    k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("payload/")
                }
            assert files == expected
        else:
            assert result["hub_error"], f"not a clear error: {result.get('traceback', result)}"
            assert any(word in result["message"] for word in ("again", "retry")), result["message"]
            assert report.ok, report.problems
            if op == "commit":
                assert fresh.log(f"{MODEL}:main")[0].id == head_before
