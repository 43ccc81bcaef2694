"""Deterministic benchmark data: many small files in folders, one large file, and a change.

Every byte comes from ``random.Random(seed)`` so both tools see the same data in every run
and on every machine, and none of it deduplicates or compresses (a store that chunks or
compresses must not get an unfair edge from repeated blocks).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

BIG_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class Shape:
    """The size of one benchmark run (``--small`` shrinks it for a smoke test)."""

    files: int
    folders: int
    file_size: int
    big_size: int
    changed: int
    added: int
    memory_files: int
    """The smaller file count for the memory-scaling check (the larger is ``files``)."""


FULL = Shape(
    files=20_000,
    folders=100,
    file_size=4096,
    big_size=1024**3,
    changed=200,
    added=100,
    memory_files=5_000,
)
SMALL = Shape(
    files=2_000,
    folders=100,
    file_size=4096,
    big_size=64 * 1024**2,
    changed=20,
    added=10,
    memory_files=500,
)


def _folder(root: Path, index: int) -> Path:
    return root / f"d{index:03d}"


def generate_small_files(root: Path, *, files: int, folders: int, size: int, seed: int) -> None:
    """``files`` random files of ``size`` bytes, spread evenly over ``folders`` folders."""
    rng = random.Random(seed)
    for folder in range(folders):
        _folder(root, folder).mkdir(parents=True, exist_ok=True)
    for number in range(files):
        path = _folder(root, number % folders) / f"f{number:05d}.bin"
        path.write_bytes(rng.randbytes(size))


def generate_big_file(path: Path, *, size: int, seed: int) -> None:
    """One random file, written in chunks so that generating 1 GiB needs 16 MiB of memory."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        remaining = size
        while remaining > 0:
            chunk = min(BIG_CHUNK, remaining)
            handle.write(rng.randbytes(chunk))
            remaining -= chunk


def copy_tree(source: Path, target: Path) -> None:
    """A private copy for one tool; ``copy2`` keeps mtimes, so files do not look just-written."""
    shutil.copytree(source, target, copy_function=shutil.copy2)


def set_aside(path: Path, root: Path) -> None:
    """Move ``path`` into ``root``'s set-aside folder instead of deleting it.

    On ext4 without a journal (this project's machines), the kernel will not reuse an inode
    deleted in the last minute (five, while its inode table block is unwritten), and each new
    file first walks past every such inode of its block group: creating 20,000 files right
    after deleting 20,000 takes seconds instead of a fraction of one, for every tool. Deleting
    between timed steps would bill whichever tool runs next for the benchmark's own clean-up,
    so many-file trees are only deleted at the end of the run.
    """
    aside = root / ".set-aside"
    aside.mkdir(exist_ok=True)
    path.rename(aside / f"{sum(1 for _ in aside.iterdir())}-{path.name}")


def delete_large_files(root: Path, *, at_least: int) -> None:
    """Free the disk space of ``root``'s large files now: they are few inodes, so deleting
    them costs the next file creations nothing (see ``set_aside``)."""
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if os.lstat(path).st_size >= at_least:
                    os.unlink(path)


def touch_one(root: Path) -> Path:
    """Give the first file a new mtime (a second earlier) and so a new ctime, bytes unchanged:
    a re-add must then compare files to find that nothing changed."""
    path = min(p for p in root.rglob("*") if p.is_file())
    before = path.stat()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns - 1_000_000_000))
    return path


def copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def apply_change(root: Path, *, changed: int, added: int, size: int, seed: int) -> list[str]:
    """Rewrite ``changed`` files in place with new bytes and add ``added`` new ones.

    The rewritten files are spread evenly over the sorted file list (every k-th file), so the
    change touches most folders, as a real update of a dataset would. Returns the relative
    paths touched, which both tools must then report.
    """
    rng = random.Random(seed + 1)
    existing = sorted(p for p in root.rglob("*") if p.is_file())
    step = max(1, len(existing) // changed)
    touched = existing[::step][:changed]
    for path in touched:
        with path.open("r+b") as handle:  # same inode, new bytes, like an editor saving
            handle.write(rng.randbytes(size))
            handle.truncate()
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    created = []
    for number in range(added):
        path = folders[number % len(folders)] / f"new{number:05d}.bin"
        path.write_bytes(rng.randbytes(size))
        created.append(path)
    return [os.path.relpath(p, root) for p in [*touched, *created]]


def fingerprint(root: Path, *, ignore: frozenset[str] = frozenset()) -> dict[str, str]:
    """relative path -> BLAKE2b of its bytes, to check that a checkout restored the data.

    Hashing is outside every timed window; it guards against a fast result that is wrong.
    """
    result: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel not in ignore:
            result[rel] = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return result
