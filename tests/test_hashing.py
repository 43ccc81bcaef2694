"""Hashing while copying: what is stored is exactly what was hashed, by either copy path."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from collections.abc import Callable
from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING

import blake3
import pytest

from assethub_ext.core import hashing
from assethub_ext.core.hashing import CHUNK, copy_hashing, hash_file

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SIZES = [0, 5, CHUNK - 1, CHUNK, 2 * CHUNK + 12345]
"""Empty, small (read whole), and chunked with a full and a partial last chunk."""


def _source(tmp_path: Path, size: int) -> tuple[Path, str]:
    data = os.urandom(size)
    path = tmp_path / f"src-{size}.bin"
    path.write_bytes(data)
    return path, blake3.blake3(data).hexdigest()


@pytest.mark.parametrize("direct", [False, True], ids=["cached", "direct"])
@pytest.mark.parametrize("size", SIZES)
def test_copy_hashing_stores_the_bytes_it_hashed(tmp_path: Path, size: int, direct: bool) -> None:
    source, expected = _source(tmp_path, size)
    target = tmp_path / "copy.bin"
    assert copy_hashing(str(source), str(target), direct=direct) == (expected, size)
    assert target.read_bytes() == source.read_bytes()
    assert hash_file(str(source), size) == expected


@pytest.mark.parametrize("copier", [hashing._kernel_copy, hashing._user_copy])
def test_both_copy_paths_agree(
    tmp_path: Path, copier: Callable[[FileIO, FileIO], hashing.Chunks]
) -> None:
    """The kernel's copy, and the read-and-write fallback used where it cannot copy."""
    size = 2 * CHUNK + 777
    source, expected = _source(tmp_path, size)
    target = tmp_path / "copy.bin"
    with FileIO(source, "rb") as src, FileIO(target, "xb+") as out:
        assert hashing._hash_chunks(copier(src, out)) == (expected, size)
    assert target.read_bytes() == source.read_bytes()


def test_copy_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    source, _ = _source(tmp_path, 10)
    target = tmp_path / "taken.bin"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        copy_hashing(str(source), str(target))
    assert target.read_bytes() == b"keep me"


def test_the_kernel_copy_leaves_no_map_of_the_target_behind(tmp_path: Path) -> None:
    """Each chunk is hashed through a map of the target, let go as soon as it is hashed."""
    size = 3 * CHUNK + 99
    source, expected = _source(tmp_path, size)
    target = tmp_path / "copy.bin"
    assert copy_hashing(str(source), str(target)) == (expected, size)
    assert str(target) not in Path("/proc/self/maps").read_text()


def test_a_direct_copy_writes_whole_blocks_past_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk but the unaligned tail is written with ``O_DIRECT`` on; the tail with it off."""
    size = 2 * CHUNK + 12345
    source, expected = _source(tmp_path, size)
    seen: list[tuple[int, bool]] = []
    write_direct = hashing._write_direct

    def spy(out: FileIO, chunk: memoryview) -> None:
        seen.append((len(chunk), bool(fcntl.fcntl(out.fileno(), fcntl.F_GETFL) & os.O_DIRECT)))
        write_direct(out, chunk)

    monkeypatch.setattr(hashing, "_write_direct", spy)
    assert copy_hashing(str(source), str(tmp_path / "copy.bin"), direct=True) == (expected, size)
    assert seen == [(CHUNK, True), (CHUNK, True), (12345, True)]


def test_a_short_direct_write_finishes_through_the_page_cache(tmp_path: Path) -> None:
    """A short write leaves an unaligned offset: the rest goes out with ``O_DIRECT`` off."""

    class ShortOnce(FileIO):
        shortened = False

        def write(self, data: ReadableBuffer, /) -> int:
            if not self.shortened:
                self.shortened = True
                return super().write(memoryview(data)[: 3 * 4096]) or 0
            return super().write(data) or 0

    chunk = memoryview(mmap.mmap(-1, CHUNK))
    chunk[:] = os.urandom(CHUNK)
    target = tmp_path / "copy.bin"
    with ShortOnce(target, "xb+") as out:
        assert hashing._set_direct(out, True)
        hashing._write_direct(out, chunk)
        assert not fcntl.fcntl(out.fileno(), fcntl.F_GETFL) & os.O_DIRECT
    assert target.read_bytes() == chunk.tobytes()


def test_where_direct_writes_are_refused_the_kernel_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without ``O_DIRECT`` (fcntl says EINVAL) still gets a verified copy."""
    size = CHUNK + 1
    source, expected = _source(tmp_path, size)
    real_fcntl = fcntl.fcntl

    def no_direct(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(hashing.fcntl, "fcntl", no_direct)
    monkeypatch.setattr(hashing, "_direct_copy", None)  # would fail if it were called
    target = tmp_path / "copy.bin"
    assert copy_hashing(str(source), str(target), direct=True) == (expected, size)
    assert target.read_bytes() == source.read_bytes()
