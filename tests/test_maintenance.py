"""fsck finds damage; gc removes only what nothing reaches, after a grace period."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext import Hub
from assethub_ext.core.errors import IntegrityError, InvalidInput

M = "alice/model/cls/net"


def _writable(path: str) -> None:
    os.chmod(path, 0o644)


LOCAL_STORE = pytest.mark.backends("sqlite-local", "postgres-local")
"""Tests that damage the local store's files; test_team.py damages S3's keys."""


@LOCAL_STORE
def test_fsck_is_clean_then_finds_corrupt_and_missing_objects(hub: Hub, tmp_path: Path) -> None:
    hub.create(M)
    big = os.urandom(2 * 1024 * 1024)
    hub.commit(f"{M}:main", str(write_files(tmp_path / "w", {"big": big, "small": "s"})))
    assert hub.fsck().ok
    digest = next(i.digest for i in hub.objects.iter_objects() if not i.packed)
    path = hub.objects.local_files([digest]).get(digest)
    assert path is not None
    _writable(path)
    with open(path, "r+b") as handle:
        handle.write(b"X")
    report = hub.fsck()
    assert not report.ok and any("corrupt" in p for p in report.problems)
    with pytest.raises(IntegrityError):
        hub.checkout(M, str(tmp_path / "co"))
    os.unlink(path)
    assert any("missing" in p for p in hub.fsck(verify=False).problems)


def test_gc_keeps_young_and_reachable_and_collects_orphans(hub: Hub, tmp_path: Path) -> None:
    hub.create(M)
    hub.commit(f"{M}:main", str(write_files(tmp_path / "a", {"w": "main"})))
    hub.branch_create(M, "exp")
    hub.commit(f"{M}:exp", str(write_files(tmp_path / "b", {"w": "only-on-exp" * 100})))
    hub.branch_delete(M, "exp", force=True)
    young = hub.gc()
    assert young.objects_removed == 0 and young.commits_removed == 0
    old = hub.gc(grace_seconds=0)
    assert old.commits_removed == 1 and old.objects_removed == 2  # the file and its tree
    assert hub.fsck().ok
    out = tmp_path / "out"
    hub.checkout(M, str(out))
    assert (out / "w").read_text() == "main"
    with pytest.raises(InvalidInput):
        hub.gc(grace_seconds=-1)


def test_gc_keeps_drafts_snapshots_and_code_patches(hub: Hub, tmp_path: Path) -> None:
    ds = "alice/dataset/cv/d"
    hub.create(ds)
    hub.add(ds, [str(write_files(tmp_path / "data", {"x": "draft-only"}))])
    snap = hub.checkout(f"{ds}:draft", str(tmp_path / "co"))
    hub.rm(ds, ["data/x"])
    hub.gc(grace_seconds=0)
    assert hub.fsck().ok
    hub.checkout(f"{ds}:{snap.commit_id}", str(tmp_path / "again"))
    assert (tmp_path / "again" / "data" / "x").read_text() == "draft-only"


@LOCAL_STORE
def test_stray_files_from_interrupted_writes_are_reported_and_collected(hub: Hub) -> None:
    hub.init()
    stray = Path(hub.objects.tmp_path(".pack"))
    stray.write_bytes(b"half a pack")
    os.utime(stray, (0, 0))
    assert str(stray) in hub.fsck().stray
    assert hub.gc().stray_removed == 1 and not stray.exists()
