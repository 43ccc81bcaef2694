"""push, pull and clone between embedded hubs and a team hub, on real servers.

The team hub (the remote) runs on each backend (``conftest.py``: SQLite or PostgreSQL, a
folder or moto's S3 server); the hubs people work in are embedded (SQLite + a folder).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import read_files, write_files
from servers import PostgresServer, S3Server, requests_with

from assethub_ext import Hub
from assethub_ext.core.config import HubConfig
from assethub_ext.core.errors import (
    BranchMoved,
    Conflict,
    Immutable,
    IntegrityError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from assethub_ext.core.hashing import hash_bytes
from assethub_ext.storage.s3 import S3ObjectStore

DS = "alice/dataset/cv/digits"
MODEL = "alice/model/cls/net"
Team = tuple[str, str]


@pytest.fixture
def team(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Team]:
    """The team hub's database and store URLs on this test's backend (fresh, empty)."""
    for name in ("ASSETHUB_DB", "ASSETHUB_STORE", "ASSETHUB_USER", "ASSETHUB_HOME"):
        monkeypatch.delenv(name, raising=False)
    db_kind, store_kind = backend.split("-")
    (tmp_path / "team").mkdir()
    db = f"sqlite:///{tmp_path / 'team' / 'hub.sqlite'}"
    store = str(tmp_path / "team" / "store")
    if db_kind == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        db = pg.database()
    if store_kind == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        bucket = s3.bucket()
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        store = f"s3://{bucket}/team"
    with _open_team((db, store), "alice") as hub:
        hub.init()
    yield db, store
    if store_kind == "s3":
        s3.drop(bucket)
    if db_kind == "postgres":
        pg.drop(db)


_TEAM_HOMES: list[str] = []
"""Cache homes made by ``_open_team`` during the current test, removed after it."""


@pytest.fixture(autouse=True)
def _remove_team_homes() -> Iterator[None]:
    yield
    while _TEAM_HOMES:
        shutil.rmtree(_TEAM_HOMES.pop(), ignore_errors=True)


def _open_team(team: Team, user: str) -> Hub:
    """The team hub itself, as ``user`` (with a cache home of its own)."""
    home = tempfile.mkdtemp(prefix="assethub-team-")
    _TEAM_HOMES.append(home)
    return Hub(config=HubConfig(home=home, db_url=team[0], store=team[1], user=user))


@pytest.fixture
def local(tmp_path: Path, team: Team) -> Callable[..., Hub]:
    """An embedded hub of one's own, with the team hub as its remote 'team'."""
    opened: list[Hub] = []

    def factory(name: str = "alice", user: str = "alice") -> Hub:
        hub = Hub(str(tmp_path / f"local-{name}"), user=user)
        hub.init()
        hub.remotes.add("team", *team)
        opened.append(hub)
        return hub

    yield factory  # type: ignore[misc]
    for hub in opened:
        hub.close()


def _dataset(hub: Hub, root: Path, files: dict[str, bytes | str]) -> str:
    hub.create(DS)
    hub.add(DS, [str(write_files(root / "data", files))])
    return hub.publish(DS).version


def _checkout(hub: Hub, ref: str, dest: Path) -> dict[str, bytes]:
    hub.checkout(ref, str(dest))
    return read_files(dest)


def _refs(hub: Hub, path: str) -> dict[str, str]:
    return {r["name"]: r["commit"] for r in hub.describe(path)["refs"]}


def _files(n: int, big: int = 0) -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {f"f{i:04}.txt": f"row {i}\n" for i in range(n)}
    files.update({f"big{i}.bin": os.urandom(1024 * 1024 + 7) for i in range(big)})
    return files


def test_push_then_clone_and_pull_round_trip(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    alice = local()
    _dataset(alice, tmp_path / "in", _files(20, big=1))
    alice.create(MODEL)
    alice.commit(f"{MODEL}:main", str(write_files(tmp_path / "m", {"w.bin": "w1"})), inputs=[DS])
    alice.tag(f"{MODEL}:main", "best")
    pushed = alice.push("team")
    assert pushed.assets == [DS, MODEL] and pushed.commits == 2
    clone_home = tmp_path / "clone"
    cloned = Hub.clone(str(clone_home), *team, user="alice")
    assert cloned.objects == pushed.objects and cloned.commits == 2
    with Hub(str(clone_home), user="alice") as copy, _open_team(team, "alice") as shared:
        for ref in (f"{DS}:v1", f"{MODEL}:best"):
            assert _checkout(copy, ref, tmp_path / "c" / ref) == _checkout(
                alice, ref, tmp_path / "a" / ref
            )
        assert [c.id for c in copy.log(MODEL)] == [c.id for c in alice.log(MODEL)]
        assert copy.lineage(f"{MODEL}:main") == alice.lineage(f"{MODEL}:main")
        assert copy.remotes.get("origin").db == team[0]
        assert copy.fsck().ok and shared.fsck().ok
        draft = copy.describe(DS)["draft"]
        assert draft["base"] == _refs(copy, DS)["v1"]  # the clone's draft sits at v1
    alice.add(DS, [str(write_files(tmp_path / "in" / "data", {"f0000.txt": "changed\n"}))])
    alice.publish(DS)
    alice.push("team", [DS])
    bob_side = local("second")
    pulled = bob_side.pull("team", ["alice/dataset/cv"])
    assert pulled.assets == [DS]
    assert _refs(bob_side, DS)["main"] == _refs(bob_side, DS)["v2"] == _refs(alice, DS)["v2"]
    assert bob_side.pull("team").assets == [DS, MODEL]
    assert bob_side.pull("team").objects == 0


def test_only_missing_objects_travel(local: Callable[..., Hub], team: Team, tmp_path: Path) -> None:
    alice = local()
    _dataset(alice, tmp_path / "in", _files(100, big=2))
    first = alice.push("team")
    assert first.objects == 103  # 102 files and the tree
    with _open_team(team, "alice") as shared:
        before = {o.digest for o in shared.objects.iter_objects()}
    alice.add(DS, [str(write_files(tmp_path / "in" / "data", {"f0001.txt": "new\n"}))])
    alice.publish(DS)
    second = alice.push("team")
    assert (second.objects, second.commits) == (2, 1)  # the changed file and the new tree
    with _open_team(team, "alice") as shared:
        after = {o.digest for o in shared.objects.iter_objects()}
        assert len(after - before) == 2
        assert shared.fsck().ok
    assert alice.push("team").objects == 0


def test_a_diverged_branch_is_refused_unless_forced(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    alice, other = local(), local("laptop")
    alice.create(MODEL)
    alice.commit(f"{MODEL}:main", str(write_files(tmp_path / "a1", {"w": "1"})))
    alice.push("team")
    other.pull("team")
    other.commit(f"{MODEL}:main", str(write_files(tmp_path / "b2", {"w": "b"})))
    other.push("team")
    mine = alice.commit(f"{MODEL}:main", str(write_files(tmp_path / "a2", {"w": "a"})))
    with pytest.raises(Conflict, match="has diverged on the remote; pull and merge first"):
        alice.push("team")
    with pytest.raises(Conflict, match="has diverged on this hub"):
        alice.pull("team")
    forced = alice.push("team", force=True)
    assert [r["status"] for r in forced.refs] == ["forced"]
    with _open_team(team, "alice") as shared:
        assert shared.show(MODEL)["commit"].id == mine.id
    assert other.pull("team", force=True).refs[0]["status"] == "forced"


def test_a_published_version_never_changes_on_the_other_side(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    alice, other = local(), local("laptop")
    _dataset(alice, tmp_path / "a", {"x": "alice"})
    _dataset(other, tmp_path / "b", {"x": "other"})
    alice.push("team")
    for force in (False, True):
        with pytest.raises(Immutable, match="'alice/dataset/cv/digits:v1' is a different commit"):
            other.push("team", force=force)
    other.derive(DS, "v1")  # a version published after pulling travels fine
    with pytest.raises(Immutable):
        other.pull("team")


@pytest.mark.backends("sqlite-local", "postgres-s3")
def test_concurrent_pushers_to_one_branch_one_wins(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    homes = []
    for name in ("one", "two", "three", "four"):
        hub = local(name)
        hub.create(MODEL)
        hub.commit(f"{MODEL}:main", str(write_files(tmp_path / name, {"w": name, "f": "x" * 999})))
        homes.append(hub.config.home)
    env = {**os.environ, "ASSETHUB_USER": "alice"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "assethub_ext", "push", "team", "--json"],
            env={**env, "ASSETHUB_HOME": home},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home in homes
    ]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    winners = [json.loads(out) for code, out, _ in results if code == 0]
    losers = [err.strip() for code, _, err in results if code != 0]
    assert len(winners) == 1 and len(losers) == 3, results
    for message in losers:
        assert message.startswith("error: ") and len(message.splitlines()) == 1
        assert "diverged" in message or "moved" in message or "created by someone" in message
    with _open_team(team, "alice") as shared:
        assert shared.show(MODEL)["commit"].id == winners[0]["refs"][0]["to"]
        assert shared.fsck().ok


def test_concurrent_pushers_in_process_get_branch_moved(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    """The check-then-land window: both saw the same head; the second CAS fails cleanly."""
    from assethub_ext.core import sync

    one, two = local("one"), local("two")
    one.create(MODEL)
    one.commit(f"{MODEL}:main", str(write_files(tmp_path / "base", {"w": "0"})))
    one.push("team")
    two.pull("team")
    one.commit(f"{MODEL}:main", str(write_files(tmp_path / "one", {"w": "1"})))
    two.commit(f"{MODEL}:main", str(write_files(tmp_path / "two", {"w": "2"})))
    with one.open_remote("team") as shared, two.open_remote("team") as shared2:
        plans = sync._plan(two, [])
        with shared2.meta.read() as conn:
            for plan in plans:
                sync._check_destination(shared2, conn, plan, "push")
                plan.moves = sync._ref_moves(shared2, conn, plan, False, "push")
        sync.transfer(one, shared, [], force=False, verb="push")  # lands in between
        sync._send(two, shared2, sync._needed_objects(two, plans), sync.no_progress("", 0, ""))
        moved = pytest.raises(BranchMoved, match="moved while this change was being made")
        with moved, shared2.meta.write() as conn:
            for plan in plans:
                sync._land(shared2, conn, plan, mirror=False)
                sync._apply_refs(shared2, conn, plan)
        assert shared.fsck().ok
        assert len(shared.log(MODEL)) == 2


PUSHER = r"""
import sys
from assethub_ext import Hub
from assethub_ext.core import sync

sync.BATCH_OBJECTS = 8  # many small batches, so that a kill lands between two of them
with Hub(sys.argv[1], user="alice") as hub:
    print(hub.push("team").objects, flush=True)
"""


@pytest.mark.slow
@pytest.mark.backends("sqlite-local", "postgres-s3")
def test_a_push_killed_halfway_leaves_the_remote_whole_and_the_rerun_sends_the_rest(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    alice = local()
    _dataset(alice, tmp_path / "in", _files(400, big=4))
    script = tmp_path / "pusher.py"
    script.write_text(PUSHER)
    run = subprocess.Popen(
        [sys.executable, str(script), alice.config.home],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with _open_team(team, "alice") as shared:
        deadline = time.monotonic() + 120
        while run.poll() is None and time.monotonic() < deadline:
            if sum(1 for _ in shared.objects.iter_objects()) >= 40:
                break
            time.sleep(0.01)
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=60) == -signal.SIGKILL, "the push ended before it was killed"
        landed = sum(1 for _ in shared.objects.iter_objects())
        assert 40 <= landed < 406
        assert shared.fsck(verify=True).ok  # objects without commits are no problem
        with pytest.raises((NotFound, PermissionDenied)):
            shared.describe(DS)  # nothing of the asset is visible yet
    rerun = alice.push("team")
    assert rerun.objects <= 406 - landed + 8  # at most the batch cut off is sent again
    with _open_team(team, "alice") as shared:
        assert shared.fsck().ok
        assert _checkout(shared, f"{DS}:v1", tmp_path / "t") == _checkout(
            alice, f"{DS}:v1", tmp_path / "a"
        )


@pytest.mark.slow
@pytest.mark.backends("sqlite-s3", "postgres-s3")
def test_s3_stopped_mid_push_fails_in_one_sentence_and_the_rerun_sends_the_rest(
    local: Callable[..., Hub],
    team: Team,
    s3_server: S3Server,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``assethub push`` loses the team hub's S3 server after its first large object landed:
    one sentence, nothing visible there; with the server back, the rerun sends only the rest."""
    alice = local()
    _dataset(alice, tmp_path / "in", {f"part{i:02d}.bin": os.urandom(2 << 20) for i in range(24)})
    with _open_team(team, "alice") as shared:
        store = shared.objects
        assert isinstance(store, S3ObjectStore)
        bucket, prefix = store.bucket, store.prefix
    pusher = subprocess.Popen(
        [sys.executable, "-m", "assethub_ext", "push", "team"],
        env={**os.environ, "ASSETHUB_HOME": alice.config.home, "ASSETHUB_USER": "alice"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    s3_server.stop_once_an_object_landed(bucket, prefix, pusher)
    _, err = pusher.communicate(timeout=300)
    s3_server.start()
    assert pusher.returncode == 1, err
    assert err.startswith("error: the object store failed") and "again" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    landed = {k for k in s3_server.keys(bucket, prefix) if "/objects/" in k}
    assert 0 < len(landed) < 24
    with _open_team(team, "alice") as shared:
        assert shared.fsck(verify=False).ok  # landed objects without commits are no problem
        with pytest.raises(NotFound):
            shared.describe(DS)  # nothing of the asset is visible

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        rerun = alice.push("team")
    sent = requests_with(caplog.records, "PUT")
    stored = {k for k in s3_server.keys(bucket, prefix) if "/objects/" in k}
    assert len(stored) == 24 and rerun.objects >= 24 - len(landed)
    assert {k for k in stored if any(k in line for line in sent)} == stored - landed, (
        "the rerun must send exactly the large objects that had not landed"
    )
    with _open_team(team, "alice") as shared:
        assert shared.fsck().ok
        assert _checkout(shared, f"{DS}:v1", tmp_path / "t") == _checkout(
            alice, f"{DS}:v1", tmp_path / "a"
        )


# -- pulling large objects -------------------------------------------------------------------


def _copies(root: Path, size: int) -> set[tuple[int, int]]:
    """(device, inode) of every file of ``size`` bytes under ``root``, and how many names
    there are for them."""
    found = [os.stat(p) for p in root.rglob("*") if p.is_file() and p.stat().st_size == size]
    assert len({(s.st_dev, s.st_ino) for s in found}) == len(found), "a file has two names"
    return {(s.st_dev, s.st_ino) for s in found}


def _store_tmp(hub: Hub) -> list[str]:
    return os.listdir(os.path.join(hub.config.store, "tmp"))


def _pushed(local: Callable[..., Hub], tmp_path: Path, files: dict[str, bytes | str]) -> Hub:
    """A second embedded hub, after alice published ``files`` as v1 and pushed them."""
    alice = local()
    _dataset(alice, tmp_path / "in", files)
    alice.push("team")
    return local("second")


def _nothing_landed(hub: Hub, digest: str) -> None:
    assert hub.objects.missing([digest]) == {digest}
    with pytest.raises((NotFound, PermissionDenied)):
        hub.describe(DS)  # nothing of the asset is visible


def _replace_object(shared: Hub, digest: str, data: bytes) -> None:
    """Put other bytes where the team hub keeps one large object (it never does so itself)."""
    store = shared.objects
    if isinstance(store, S3ObjectStore):
        key = store.loose_key(digest)
        store.client.delete_object(Bucket=store.bucket, Key=key)
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
        return
    path = Path(store.local_files([digest])[digest])
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(0o444)


def test_a_pulled_large_object_is_downloaded_once_and_stored_once(
    local: Callable[..., Hub], team: Team, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """From S3: one GET, written into this hub's store and nowhere else (no cache copy, no
    second file); from a folder on this machine: linked, not copied. Then checked out."""
    big = os.urandom(3 << 20)
    bob = _pushed(local, tmp_path, {"big.bin": big, "small.txt": "s"})
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert bob.pull("team").objects == 3  # the two files and the tree
    digest = hash_bytes(big)
    stored = Path(bob.objects.local_files([digest])[digest])
    assert stored.read_bytes() == big and not stored.stat().st_mode & 0o222
    assert _copies(Path(bob.config.home), len(big)) == {
        (stored.stat().st_dev, stored.stat().st_ino)
    }
    assert _store_tmp(bob) == []
    if team[1].startswith("s3://"):
        gets = [line for line in requests_with(caplog.records, "GET") if digest in line]
        assert len(gets) == 1 and stored.stat().st_nlink == 1, gets
    else:
        with _open_team(team, "alice") as shared:
            assert stored.samefile(shared.objects.local_files([digest])[digest])
    assert _checkout(bob, f"{DS}:v1", tmp_path / "co") == {
        "data/big.bin": big,
        "data/small.txt": b"s",
    }
    assert bob.fsck().ok


def test_a_corrupt_large_object_on_the_remote_is_refused_and_a_later_pull_works(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    big = os.urandom(2 << 20)
    bob = _pushed(local, tmp_path, {"big.bin": big})
    digest = hash_bytes(big)
    with _open_team(team, "alice") as shared:
        _replace_object(shared, digest, os.urandom(len(big)))
    with pytest.raises(IntegrityError, match=rf"^object {digest[:12]} is corrupt") as refused:
        bob.pull("team")
    assert "\n" not in str(refused.value)
    _nothing_landed(bob, digest)
    assert _store_tmp(bob) == [] and bob.fsck().ok
    with _open_team(team, "alice") as shared:
        _replace_object(shared, digest, big)
    bob.pull("team")
    assert _checkout(bob, f"{DS}:v1", tmp_path / "co") == {"data/big.bin": big}


@pytest.mark.slow
@pytest.mark.backends("sqlite-s3", "postgres-s3")
def test_a_pull_killed_mid_download_leaves_nothing_visible_and_the_rerun_completes(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    big = os.urandom(128 << 20)
    bob = _pushed(local, tmp_path, {"big.bin": big})
    partial = Path(bob.config.store) / "tmp"
    puller = subprocess.Popen(
        [sys.executable, "-m", "assethub_ext", "pull", "team"],
        env={**os.environ, "ASSETHUB_HOME": bob.config.home, "ASSETHUB_USER": "alice"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while puller.poll() is None and time.monotonic() < deadline:
        if any(p.stat().st_size > 0 for p in partial.glob("*.obj")):
            break  # the download is under way
        time.sleep(0.002)
    puller.send_signal(signal.SIGKILL)
    assert puller.wait(timeout=60) == -signal.SIGKILL, "the pull ended before it was killed"
    assert 0 < sum(p.stat().st_size for p in partial.glob("*.obj")) < len(big)
    _nothing_landed(bob, hash_bytes(big))
    check = bob.fsck()
    assert check.ok and check.stray  # the cut-off download is a stray file, nothing more

    assert bob.pull("team").objects == 2
    assert _checkout(bob, f"{DS}:v1", tmp_path / "co") == {"data/big.bin": big}
    assert bob.gc(grace_seconds=0).stray_removed == 1 and _store_tmp(bob) == []
    assert bob.fsck().ok


@pytest.mark.backends("sqlite-local", "postgres-s3")
def test_a_pushed_model_brings_the_commits_its_lineage_inputs_name(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    """The input commit travels (objects too) without its refs; an input on a folder the
    pusher may not create on the remote stays behind, shown there as a missing node."""
    alice = local()
    _dataset(alice, tmp_path / "in", {"x": "1"})
    theirs = "bob/dataset/cv/raw"
    with Hub(alice.config.home, user="bob") as bob:
        bob.create(theirs)
        bob.add(theirs, [str(write_files(tmp_path / "raw", {"r": "0"}))])
        bob.publish(theirs)
        bob.share("bob/dataset/cv", "alice", "run")
    alice.create(MODEL)
    weights = write_files(tmp_path / "m", {"w": "1"})
    alice.commit(f"{MODEL}:main", str(weights), inputs=[f"{DS}:v1", f"{theirs}:v1"])
    used = alice.describe(DS)["refs"][0]["commit"]

    report = alice.push("team", [MODEL])
    assert report.assets == [MODEL] and report.commits == 2
    with _open_team(team, "alice") as shared:
        nodes = shared.lineage(f"{MODEL}:main").nodes
        assert not nodes[used].get("missing") and nodes[used]["refs"] == []
        assert [n for n in nodes.values() if n.get("missing")] == [
            {"id": _refs(alice, theirs)["v1"], "missing": True}
        ]
        assert _checkout(shared, f"{DS}:{used}", tmp_path / "t") == {"data/x": b"1"}
        assert shared.fsck().ok
    assert [r["status"] for r in alice.push("team", [DS]).refs] == ["created", "created"]


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "db", "store", "wrong"),
    [
        ("../x", "postgresql://h/db", "s3://b/p", "remote name"),
        ("a b", "postgresql://h/db", "s3://b/p", "remote name"),
        ("", "postgresql://h/db", "s3://b/p", "remote name"),
        ("t", "mysql://h/db", "s3://b/p", "database URL"),
        ("t", "sqlite:///relative.sqlite", "s3://b/p", "absolute path"),
        ("t", "postgresql://h/db\nx", "s3://b/p", "database URL"),
        ("t", "postgresql://h/db", "ftp://b/p", "store"),
        ("t", "postgresql://h/db", "relative/folder", "store"),
        ("t", "postgresql://h/db", "s3://", "store URL"),
        ("t", "postgresql://h/db", "s3://b/../p", "store URL"),
    ],
)
@pytest.mark.backends("sqlite-local")
def test_malformed_remotes_are_refused(
    local: Callable[..., Hub], name: str, db: str, store: str, wrong: str
) -> None:
    alice = local()
    with pytest.raises(InvalidInput, match=wrong):
        alice.remotes.add(name, db, store)
    assert [r.name for r in alice.remotes.list()] == ["team"]


@pytest.mark.backends("sqlite-local")
def test_unknown_self_and_environment_remotes(
    local: Callable[..., Hub], team: Team, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alice = local()
    with pytest.raises(NotFound, match="there is no remote 'nope'"):
        alice.push("nope")
    alice.remotes.add("me", alice.config.db_url, alice.config.store)
    with pytest.raises(InvalidInput, match="is this hub itself"):
        alice.push("me")
    alice.remotes.add("gone", f"sqlite:///{tmp_path / 'none.sqlite'}", str(tmp_path / "s"))
    with pytest.raises(NotFound, match="has no hub at"):
        alice.pull("gone")
    monkeypatch.setenv("ASSETHUB_REMOTE_CI_HUB_DB", team[0])
    monkeypatch.setenv("ASSETHUB_REMOTE_CI_HUB_STORE", team[1])
    assert alice.remotes.get("ci-hub").store == team[1]
    assert oct(os.stat(alice.remotes.path).st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "bad", ["../etc", "/etc/passwd", "alice/dataset/../x", "alice/x/f", "a//b"]
)
@pytest.mark.backends("sqlite-local")
def test_hostile_paths_are_refused_before_anything_travels(
    local: Callable[..., Hub], bad: str
) -> None:
    alice = local()
    for call in (alice.push, alice.pull):
        with pytest.raises(InvalidInput):
            call("team", [bad])


def test_permissions_on_both_sides(local: Callable[..., Hub], team: Team, tmp_path: Path) -> None:
    alice, bob = local(), local("bob", user="bob")
    _dataset(alice, tmp_path / "in", {"x": "1"})
    alice.push("team")
    with pytest.raises(PermissionDenied, match="may not access"):
        bob.pull("team", [DS])  # read on the source is needed
    assert bob.pull("team").assets == []  # everything bob may read: nothing
    with _open_team(team, "alice") as shared:
        shared.share("alice/dataset/cv", "bob", "read")
    assert bob.pull("team", [DS]).assets == [DS]  # a mirror of alice's folder, his copy
    bob.add(DS, [str(write_files(tmp_path / "b", {"y": "2"}))])
    bob.publish(DS)
    with pytest.raises(PermissionDenied, match=r"may not edit .* \(granted: read\)"):
        bob.push("team", [DS])  # edit on the destination is needed
    with _open_team(team, "alice") as shared:
        shared.group_add("cv", ["bob"])
        shared.share("alice/dataset/cv", "@cv", "edit")
    assert bob.push("team", [DS]).commits == 1
    with _open_team(team, "bob") as shared:
        assert _refs(shared, DS)["main"] == _refs(bob, DS)["v2"]
    elsewhere = tmp_path / "elsewhere"
    Hub(str(elsewhere), user="bob").init()
    bob.remotes.add("other", f"sqlite:///{elsewhere / 'hub.sqlite'}", str(elsewhere / "store"))
    with pytest.raises(PermissionDenied, match="only 'alice' can create it"):
        bob.push("other", [DS])  # bob's copy of alice's folder: not his to create elsewhere


@pytest.mark.backends("sqlite-local")
def test_push_pull_clone_over_the_command_line(
    local: Callable[..., Hub], team: Team, tmp_path: Path
) -> None:
    alice = local()
    _dataset(alice, tmp_path / "in", {"x": "1"})
    env = {**os.environ, "ASSETHUB_HOME": alice.config.home, "ASSETHUB_USER": "alice"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assethub_ext", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    assert run("remote", "ls").stdout.split("\t")[0] == "team"
    assert run("remote", "add", "bad name", "--db", team[0], "--store", team[1]).returncode == 2
    pushed = run("push", "team")
    assert pushed.returncode == 0, pushed.stderr
    assert "alice/dataset/cv/digits:v1  created" in pushed.stdout
    assert run("push", "team", "../x").returncode == 2
    cloned = run("clone", "--db", team[0], "--store", team[1], str(tmp_path / "c"), "--json")
    assert json.loads(cloned.stdout)["commits"] == 1
    again = run("clone", "--db", team[0], "--store", team[1], str(tmp_path / "c"))
    assert (
        again.returncode == 1
        and again.stderr.startswith("error: ")
        and "already holds" in again.stderr
    )
    missing = run("pull", "nope")
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1
    assert run("remote", "rm", "team").returncode == 0
    assert run("remote", "rm", "team").returncode == 1
