"""``add --link``: files enter the store by link, and published bytes still never change."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import read_files, write_files

from assethub_ext import Hub
from assethub_ext.core.errors import IntegrityError

DS = "alice/dataset/cv/big"
BIG = b"\x07" * (2 * 1024 * 1024 + 1)  # above the 1 MiB line under which files go to packs


@pytest.fixture
def big(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "data", {"w.bin": BIG, "small.csv": "1,2\n"})
    past = time.time() - 5  # not "racily clean": the index may trust these stats
    for path in root.iterdir():
        os.utime(path, (past, past))
    return root


def _published(hub: Hub, data: Path) -> str:
    hub.create(DS)
    change = hub.add(DS, [str(data)], link=True)
    assert change.linked_files == 2
    return str(hub.publish(DS))


def test_files_are_linked_and_made_read_only(hub: Hub, big: Path, tmp_path: Path) -> None:
    version = _published(hub, big)
    for name in ("w.bin", "small.csv"):
        user_file = big / name
        assert stat.S_IMODE(user_file.stat().st_mode) == 0o444, name
        assert user_file.stat().st_nlink == 2, f"{name} is shared with the store, not copied"
    again = hub.add(DS, [str(big)])
    assert not again.changed and again.hashed_bytes == 0, "the index knows the linked file"
    assert hub.status(DS, [str(big)]) == []
    hub.checkout(version, str(tmp_path / "out"))
    assert read_files(tmp_path / "out" / "data") == {"w.bin": BIG, "small.csv": b"1,2\n"}


def test_linked_small_files_are_linked_back_by_a_link_mode_checkout(
    hub: Hub, tmp_path: Path
) -> None:
    """They stay loose objects rather than packed, so a checkout need create no file."""
    files = {f"f{i}.txt": f"row {i % 3}\n" for i in range(6)}  # duplicates among them
    data = write_files(tmp_path / "many", files)
    hub.create(DS)
    hub.add(DS, [str(data)], link=True)
    version = str(hub.publish(DS))
    done = hub.checkout(version, str(tmp_path / "out"), link="hardlink")
    assert dict(done.report.methods) == {"hardlink": 6}
    out = tmp_path / "out" / "many"
    assert read_files(out) == {name: text.encode() for name, text in files.items()}
    assert (out / "f0.txt").stat().st_ino == (data / "f0.txt").stat().st_ino
    assert hub.fsck().ok


def test_linking_drops_only_write_permission(hub: Hub, big: Path) -> None:
    """A private file stays private: read-only for its owner, not readable by everyone."""
    os.chmod(big / "w.bin", 0o600)
    _published(hub, big)
    assert stat.S_IMODE((big / "w.bin").stat().st_mode) == 0o400


def test_replacing_a_linked_file_leaves_the_version_intact(
    hub: Hub, big: Path, tmp_path: Path
) -> None:
    """How editors and most tools save: write a new file, rename it over the old one."""
    version = _published(hub, big)
    replacement = big / "w.bin.tmp"
    replacement.write_bytes(b"new bytes")
    os.replace(replacement, big / "w.bin")
    hub.add(DS, [str(big)])
    assert str(hub.publish(DS)).endswith(":v2")
    hub.checkout(version, str(tmp_path / "v1"))
    assert (tmp_path / "v1" / "data" / "w.bin").read_bytes() == BIG
    assert hub.fsck().ok


def test_an_unprivileged_writer_cannot_edit_a_linked_file_in_place(hub: Hub, big: Path) -> None:
    """The file is read-only for everyone; as root the check runs as user ``nobody``.

    The child (a shell: ``nobody`` may not run this interpreter) reopens the file through
    an inherited descriptor (``/proc/self/fd``), so only the file's own permissions decide,
    not the folders above it.
    """
    os.chmod(big / "w.bin", 0o666)  # writable by anyone, until the store takes it
    _published(hub, big)
    fd = os.open(big / "w.bin", os.O_RDONLY)
    probe = (
        f"cat /proc/self/fd/{fd} >/dev/null || exit 4\n"  # it can be read...
        f"if (exec 9<>/proc/self/fd/{fd}) 2>/dev/null; then exit 3; fi\n"  # ...not written
    )
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", probe],
            pass_fds=[fd],
            user=65534 if os.geteuid() == 0 else None,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr or "the linked file could be opened for writing"


def test_an_in_place_edit_that_bypasses_permissions_is_caught_never_served(
    hub: Hub, big: Path, tmp_path: Path
) -> None:
    """Root, or an owner who chmods the file back, can still write to the shared inode:
    every read of an object verifies its hash, so the damage is reported, not used."""
    version = _published(hub, big)
    os.chmod(big / "w.bin", 0o644)
    with open(big / "w.bin", "r+b") as handle:
        handle.write(b"\x00")
    with pytest.raises(IntegrityError, match="corrupt"):
        hub.checkout(version, str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out" / "data" / "w.bin")
    assert not hub.fsck().ok


def test_another_file_system_falls_back_to_a_copy(hub: Hub, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    source = shm / f"assethub-test-{os.getpid()}"
    try:
        data = write_files(source / "data", {"w.bin": BIG, "small.csv": "1,2\n"})
        hub.create(DS)
        change = hub.add(DS, [str(data)], link=True)
        assert change.linked_files == 0 and change.stored_bytes >= len(BIG) + 4
        for name in ("w.bin", "small.csv"):
            assert stat.S_IMODE((data / name).stat().st_mode) != 0o444, name
        version = str(hub.publish(DS))
        hub.checkout(version, str(tmp_path / "out"))
        assert read_files(tmp_path / "out" / "data") == {"w.bin": BIG, "small.csv": b"1,2\n"}
    finally:
        subprocess.run(["rm", "-rf", str(source)], check=True)


def test_cli_add_link_and_publish_in_one_command(
    cli: Callable[..., subprocess.CompletedProcess[str]], big: Path
) -> None:
    assert cli("create", DS).returncode == 0
    done = cli("add", DS, str(big), "--link", "--publish", "-m", "first")
    assert done.returncode == 0, done.stderr
    summary, version = done.stdout.strip().splitlines()
    assert "2 added" in summary and "2 linked, not copied" in summary
    assert version == f"{DS}:v1"
    again = cli("add", DS, str(big), "--publish")
    assert again.returncode == 1 and "nothing to publish" in again.stderr
