"""Hashing while copying: what is stored is exactly what was hashed, by either copy path."""

from __future__ import annotations

import os
from collections.abc import Callable
from io import FileIO
from pathlib import Path

import blake3
import pytest

from assethub_ext.core import hashing
from assethub_ext.core.hashing import CHUNK, copy_hashing, hash_file

SIZES = [0, 5, CHUNK - 1, CHUNK, 2 * CHUNK + 12345]
"""Empty, small (read whole), and chunked with a full and a partial last chunk."""


def _source(tmp_path: Path, size: int) -> tuple[Path, str]:
    data = os.urandom(size)
    path = tmp_path / f"src-{size}.bin"
    path.write_bytes(data)
    return path, blake3.blake3(data).hexdigest()


@pytest.mark.parametrize("size", SIZES)
def test_copy_hashing_stores_the_bytes_it_hashed(tmp_path: Path, size: int) -> None:
    source, expected = _source(tmp_path, size)
    target = tmp_path / "copy.bin"
    assert copy_hashing(str(source), str(target)) == (expected, size)
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
