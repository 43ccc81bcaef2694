"""The embedded object store: a folder on local disk.

Layout under the store's root::

    index.sqlite          digest -> (pack, offset, size, stored_at)
    packs/<id>.pack       small objects appended back to back, one pack per write batch
    objects/ab/<digest>   large objects, one read-only file each
    tmp/                  files being written; renamed into place only when complete

Why two kinds: creating a file is the most expensive thing this store does (measured on the
reference machine, creating 20,000 files of 4 KiB costs 3-5 times more than appending them
to one pack), so small objects go to packs. Large objects get a file of their own, so that
a checkout can hard-link or reflink them instead of copying gigabytes.

Atomicity: a batch's bytes are written under ``tmp/`` and renamed into place, and only then
are its index rows inserted, in one transaction. A process killed at any point leaves either
no trace in the index or the whole batch; leftovers are stray files that ``gc`` removes.
Objects are never overwritten (loose objects are placed with ``link``, which refuses to
replace a file) and are made read-only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from itertools import islice

from ..core.errors import IntegrityError, no_room_is_an_error
from ..core.hashing import copy_hashing, hash_bytes, hash_file
from ..core.links import NO_LINK_HERE, READ_ONLY, WRITE_BITS, reflink
from ..core.sqlite_wal import enable_wal
from .locks import FileWritersLock, WritersLock
from .objects import (
    LOOSE_THRESHOLD,
    BatchWriter,
    CollectReport,
    ObjectInfo,
    ObjectStore,
    changed_while_adding,
)

PACK_LIMIT = 1024 * 1024 * 1024
_SQL_CHUNK = 900
WRITE_GROUP = 1024
WRITE_GROUP_BYTES = 4 * 1024 * 1024
"""Packed objects are written in groups (at most this many, the most ``writev`` takes at
once, or this many bytes): one system call per group instead of one per object."""


def chunks(items: Iterable[str], size: int = _SQL_CHUNK) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _fsync_wanted() -> bool:
    """Durability against power loss costs a disk flush per batch; atomicity is free."""
    return os.environ.get("ASSETHUB_FSYNC", "0") == "1"


class LocalObjectStore:
    def __init__(self, root: str, writers_lock: WritersLock | None = None) -> None:
        self.root = root
        self.writers_lock = writers_lock or FileWritersLock(os.path.join(root, "writers.lock"))
        for sub in ("packs", "objects", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        self._db = sqlite3.connect(
            os.path.join(root, "index.sqlite"), timeout=60, isolation_level=None
        )
        enable_wal(self._db, synchronous="NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (digest TEXT PRIMARY KEY, pack TEXT,"
            " offset INTEGER, size INTEGER NOT NULL, stored_at REAL NOT NULL) WITHOUT ROWID"
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS loose_objects ON objects (digest) WHERE pack IS NULL"
        )

    # -- paths ---------------------------------------------------------------------------
    def _loose_path(self, digest: str) -> str:
        return os.path.join(self.root, "objects", digest[:2], digest)

    def _pack_path(self, pack: str) -> str:
        return os.path.join(self.root, "packs", pack + ".pack")

    def tmp_path(self, suffix: str) -> str:
        return os.path.join(self.root, "tmp", f"{uuid.uuid4().hex}{suffix}")

    # -- queries -------------------------------------------------------------------------
    def _locations(self, digests: Iterable[str]) -> dict[str, tuple[str | None, int, int]]:
        """Where each of ``digests`` is stored; asked in sorted chunks, so that each chunk's
        lookups walk neighbouring pages of the index (a third cheaper than random order)."""
        found: dict[str, tuple[str | None, int, int]] = {}
        for chunk in chunks(sorted(set(digests))):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT digest, pack, offset, size FROM objects WHERE digest IN ({marks})", chunk
            )
            for digest, pack, offset, size in rows:
                found[digest] = (pack, offset, size)
        return found

    def missing(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        return wanted - set(self._locations(wanted))

    def writer(self) -> LocalObjectWriter:
        return LocalObjectWriter(self)

    def read_bytes(self, digest: str) -> bytes:
        for _, data in self.read_many([digest]):
            return data
        raise IntegrityError(
            f"object {digest[:12]} is missing from the store; run 'assethub fsck'."
        )

    def read_many(self, digests: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Yield (digest, verified bytes), reading each pack front to back."""
        wanted = list(dict.fromkeys(digests))
        locations = self._locations(wanted)
        absent = [d for d in wanted if d not in locations]
        if absent:
            raise IntegrityError(
                f"{len(absent)} object(s) are missing from the store (first {absent[0][:12]}); "
                "run 'assethub fsck'."
            )
        by_pack: dict[str | None, list[tuple[int, int, str]]] = {}
        for digest, (pack, offset, size) in locations.items():
            by_pack.setdefault(pack, []).append((offset, size, digest))
        for pack, items in by_pack.items():
            if pack is None:
                for _, _, digest in items:
                    with open(self._loose_path(digest), "rb") as handle:
                        yield digest, _verified(digest, handle.read())
                continue
            items.sort()
            fd = os.open(self._pack_path(pack), os.O_RDONLY)
            try:
                for start, run in _runs(items):
                    data = memoryview(os.pread(fd, sum(size for _, size, _ in run), start))
                    for offset, size, digest in run:
                        piece = data[offset - start : offset - start + size]
                        yield digest, _verified(digest, piece.tobytes())
            finally:
                os.close(fd)

    def read_range(
        self, digest: str, start: int, end: int, chunk: int = 1024 * 1024
    ) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of an object, in chunks of at most ``chunk``.

        Memory stays flat however large the object. A packed object (under 1 MiB) is read
        whole and verified; a loose one is streamed from its read-only file unverified, since
        its hash can only be checked once every byte was sent (``fsck`` verifies it).
        """
        location = self._locations([digest]).get(digest)
        if location is None:
            raise IntegrityError(
                f"object {digest[:12]} is missing from the store; run 'assethub fsck'."
            )
        pack, _, size = location
        if pack is not None:
            data = self.read_bytes(digest)
            for at in range(start, end, chunk):
                yield data[at : min(at + chunk, end)]
            return
        with open(self._loose_path(digest), "rb") as handle:
            handle.seek(start)
            left = end - start
            while left > 0:
                block = handle.read(min(chunk, left))
                if not block:
                    raise IntegrityError(
                        f"object {digest[:12]} is shorter than its {size} bytes; run 'assethub fsck'."
                    )
                left -= len(block)
                yield block

    def local_files(self, digests: Iterable[str]) -> dict[str, str]:
        """digest -> read-only file, for those of ``digests`` stored as loose objects."""
        return {digest: self._loose_path(digest) for digest in self._loose(set(digests))}

    def _loose(self, wanted: set[str]) -> set[str]:
        """Which of ``wanted`` are loose objects.

        Most stores hold few loose objects (large files, linked ones): when there are no
        more of them than ``wanted``, one scan of the partial index ``loose_objects`` lists
        them all, instead of 20,000 lookups for a checkout that is mostly packed.
        """
        every = self._db.execute(
            "SELECT digest FROM objects INDEXED BY loose_objects WHERE pack IS NULL LIMIT ?",
            (len(wanted) + 1,),
        ).fetchall()
        if len(every) <= len(wanted):
            return wanted.intersection(digest for (digest,) in every)
        return {d for d, (pack, _, _) in self._locations(wanted).items() if pack is None}

    def export(self, targets: dict[str, str]) -> None:
        """Each object at its target: a large one linked where it can be (then hashed; the
        store's file is read-only already), else copied while hashed; a packed one written
        from its verified bytes."""
        locations = self._locations(targets)
        for digest, target in targets.items():
            if digest not in locations:
                raise IntegrityError(
                    f"object {digest[:12]} is missing from the store; run 'assethub fsck'."
                )
            pack, _, size = locations[digest]
            if pack is not None:
                with open(target, "xb") as handle:
                    handle.write(self.read_bytes(digest))
                continue
            source = self._loose_path(digest)
            if _take(source, target) is None:
                got = copy_hashing(source, target)
            else:
                got = hash_file(target, size), os.path.getsize(target)
            if got != (digest, size):
                os.unlink(target)
                raise _corrupt(digest)

    def iter_objects(self) -> Iterator[ObjectInfo]:
        rows = self._db.execute("SELECT digest, size, stored_at, pack FROM objects").fetchall()
        for digest, size, stored_at, pack in rows:
            yield ObjectInfo(digest, size, stored_at, pack is not None)

    def absent(self) -> set[str]:
        """Indexed objects whose bytes are not on disk (a lost loose file or a cut pack)."""
        pack_sizes: dict[str, int] = {}
        lost = set()
        for digest, pack, offset, size in self._db.execute(
            "SELECT digest, pack, offset, size FROM objects"
        ):
            if pack is None:
                if not os.path.exists(self._loose_path(digest)):
                    lost.add(digest)
                continue
            if pack not in pack_sizes:
                try:
                    pack_sizes[pack] = os.path.getsize(self._pack_path(pack))
                except FileNotFoundError:
                    pack_sizes[pack] = -1
            if pack_sizes[pack] < offset + size:
                lost.add(digest)
        return lost

    def verify(self, digest: str) -> bool:
        location = self._locations([digest]).get(digest)
        if location is None:
            return False
        pack, offset, size = location
        try:
            if pack is None:
                path = self._loose_path(digest)
                return os.path.getsize(path) == size and hash_file(path, size) == digest
            fd = os.open(self._pack_path(pack), os.O_RDONLY)
            try:
                data = os.pread(fd, size, offset)
            finally:
                os.close(fd)
            return len(data) == size and hash_bytes(data) == digest
        except OSError:
            return False

    # -- writing (used by LocalObjectWriter) ----------------------------------------------
    def _publish(self, rows: list[tuple[str, str | None, int, int]], kept: set[str]) -> None:
        """Make a batch visible, and refresh the age of reused objects, in one transaction.

        Rows go in in digest order: each insert then lands next to the last one in the
        index, and 20,000 of them take a third less time than in random order.
        """
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO objects (digest, pack, offset, size, stored_at)"
                " VALUES (?, ?, ?, ?, ?)",
                ((d, p, o, s, now) for d, p, o, s in sorted(rows)),
            )
            for chunk in chunks(kept):
                marks = ",".join("?" * len(chunk))
                self._db.execute(
                    f"UPDATE objects SET stored_at=? WHERE digest IN ({marks})", [now, *chunk]
                )
            lost = self.missing(kept)
            if lost:
                raise IntegrityError(
                    f"{len(lost)} object(s) were garbage-collected while this change was being "
                    "written; run the command again."
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _move_rows(self, rows: list[tuple[str, str | None, int, int]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "UPDATE objects SET pack=?, offset=? WHERE digest=?",
                [(p, o, d) for d, p, o, _ in rows],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # -- garbage ---------------------------------------------------------------------------
    def collect(self, keep: set[str], older_than: float) -> CollectReport:
        """Delete objects not in ``keep`` and stored before ``older_than``; repack; clear strays.

        Runs only while no writer is open (it takes the writers' lock without waiting), so
        it never removes a file that a batch in flight has written or is about to reuse;
        when writers are active it removes nothing and says so.
        """
        report = CollectReport()
        lock = self.writers_lock.acquire(exclusive=True)
        if lock is None:
            report.skipped = True
            return report
        try:
            gone = self._unindex(keep, older_than)
            for info in gone:
                report.removed += 1
                report.removed_bytes += info.size
                if not info.packed:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._loose_path(info.digest))
            report.repacked = self._repack(older_than)
            report.stray_removed = self._remove_stray(older_than)
        finally:
            lock.release()
        return report

    def _unindex(self, keep: set[str], older_than: float) -> list[ObjectInfo]:
        doomed = [
            info
            for info in self.iter_objects()
            if info.digest not in keep and info.stored_at < older_than
        ]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for info in doomed:
                self._db.execute("DELETE FROM objects WHERE digest=?", (info.digest,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return doomed

    def _repack(self, older_than: float) -> int:
        """Rewrite packs that hold garbage so that only live objects remain; drop empty ones.

        Packs younger than the grace period are left alone: a writer renames its pack into
        place a moment before it indexes it.
        """
        live: dict[str, list[tuple[str, int, int]]] = {}
        for digest, pack, offset, size in self._db.execute(
            "SELECT digest, pack, offset, size FROM objects WHERE pack IS NOT NULL"
        ):
            live.setdefault(pack, []).append((digest, offset, size))
        repacked = 0
        for name in os.listdir(os.path.join(self.root, "packs")):
            pack = name.removesuffix(".pack")
            path = self._pack_path(pack)
            members = live.get(pack, [])
            if os.path.getmtime(path) >= older_than or sum(
                s for _, _, s in members
            ) == os.path.getsize(path):
                continue
            if members:
                self._rewrite_pack(pack, members)
            os.unlink(path)
            repacked += 1
        return repacked

    def _rewrite_pack(self, pack: str, members: list[tuple[str, int, int]]) -> None:
        writer = LocalObjectWriter(self, locked=False)  # gc already holds the lock
        try:
            fd = os.open(self._pack_path(pack), os.O_RDONLY)
            try:
                for digest, offset, size in sorted(members, key=lambda m: m[1]):
                    writer.append(digest, _verified(digest, os.pread(fd, size, offset)))
            finally:
                os.close(fd)
            writer.commit(replace=True)
        finally:
            writer.__exit__(None)

    def stray_files(self) -> list[str]:
        """Files that no index row names: leftovers of interrupted writes."""
        indexed_packs = {row[0] for row in self._db.execute("SELECT DISTINCT pack FROM objects")}
        stray = [
            os.path.join(self.root, "tmp", n) for n in os.listdir(os.path.join(self.root, "tmp"))
        ]
        for name in os.listdir(os.path.join(self.root, "packs")):
            if name.removesuffix(".pack") not in indexed_packs:
                stray.append(self._pack_path(name.removesuffix(".pack")))
        loose_indexed = {
            row[0] for row in self._db.execute("SELECT digest FROM objects WHERE pack IS NULL")
        }
        objects_root = os.path.join(self.root, "objects")
        for fanout in os.listdir(objects_root):
            for name in os.listdir(os.path.join(objects_root, fanout)):
                if name not in loose_indexed:
                    stray.append(os.path.join(objects_root, fanout, name))
        return stray

    def _remove_stray(self, older_than: float) -> int:
        removed = 0
        for path in self.stray_files():
            with contextlib.suppress(FileNotFoundError):
                if os.path.getmtime(path) < older_than:
                    os.unlink(path)
                    removed += 1
        return removed

    def close(self) -> None:
        self._db.close()


READ_RUN = 8 * 1024 * 1024
"""Objects stored back to back are read together, up to this many bytes per read: one
system call per run instead of one per object (a checkout reads 20,000 small objects)."""


def _runs(items: list[tuple[int, int, str]]) -> Iterator[tuple[int, list[tuple[int, int, str]]]]:
    """Group (offset, size, digest), sorted by offset, into contiguous runs of bounded size."""
    run: list[tuple[int, int, str]] = []
    start = end = 0
    for item in items:
        offset, size, _ = item
        if run and (offset != end or end - start + size > READ_RUN):
            yield start, run
            run = []
        if not run:
            start = offset
        run.append(item)
        end = offset + size
    if run:
        yield start, run


def _corrupt(digest: str) -> IntegrityError:
    return IntegrityError(
        f"object {digest[:12]} is corrupt (its bytes do not match its hash); run 'assethub fsck'."
    )


def _verified(digest: str, data: bytes) -> bytes:
    if hash_bytes(data) != digest:
        raise _corrupt(digest)
    return data


def _writev_all(fd: int, buffers: list[bytes], size: int) -> None:
    """Write ``size`` bytes of buffers (at most ``WRITE_GROUP``), in order. ``writev`` may
    write only part (a signal, a full disk's last bytes): the rest is then written until
    nothing is left or a write fails."""
    done = os.writev(fd, buffers)
    if done < size:
        rest = memoryview(b"".join(buffers))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]


class _GroupWrites:
    """Pack groups written by a background thread, one group at a time.

    ``writev`` releases the GIL, so the kernel's part of a write (taking fresh page-cache
    pages and copying into them: 20 ms or 250 ms for the same 80 MiB on a virtual machine,
    depending on its memory state) runs on another core while the caller reads and hashes
    the next files. At most one group is in flight, so memory
    stays bounded; an error is raised by the next call, before anything is committed.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, fd: int, buffers: list[bytes], size: int) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(fd, buffers, size))
        self._thread.start()

    def _write(self, fd: int, buffers: list[bytes], size: int) -> None:
        try:
            _writev_all(fd, buffers, size)
        except BaseException as exc:
            self._error = exc

    def wait(self) -> None:
        """Return once nothing is in flight; raise what the last group's write raised."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error


def _take(path: str, tmp: str) -> str | None:
    """Link ``path`` to ``tmp`` by reflink, else by hard link; None: copy instead."""
    try:
        reflink(path, tmp)
        return "reflink"
    except OSError:
        pass
    try:
        os.link(path, tmp)
    except OSError as exc:
        if exc.errno in NO_LINK_HERE:
            return None
        raise
    return "hardlink"


def _hash_taken(path: str, tmp: str, *, hard_link: bool) -> tuple[str, int]:
    """Hash a linked file; a hard-linked one is made read-only first and must not change
    while it is hashed.

    Only the write bits are dropped: a file only its owner could read stays so. Once it
    is read-only, only a writer that opened it earlier (or root) can still change it: its
    stat is compared before and after, and a change refuses the add. On any failure the
    file gets its permissions back and the store lets go of it.
    """
    mode = stat.S_IMODE(os.stat(tmp).st_mode)
    try:
        if hard_link:
            os.chmod(tmp, mode & ~WRITE_BITS)
        before = os.stat(tmp)
        digest = hash_file(tmp, before.st_size)
        after = os.stat(tmp)
        if hard_link and (before.st_size, before.st_mtime_ns, before.st_ctime_ns) != (
            after.st_size,
            after.st_mtime_ns,
            after.st_ctime_ns,
        ):
            raise IntegrityError(
                f"'{path}' changed while it was being added; run the command again."
            )
    except BaseException:
        if hard_link:
            os.chmod(tmp, mode)
        os.unlink(tmp)
        raise
    return digest, before.st_size


class LocalObjectWriter(BatchWriter):
    """Collects one batch: small objects into a fresh pack, large ones as loose files."""

    def __init__(self, store: LocalObjectStore, *, locked: bool = True) -> None:
        super().__init__(store)
        self._store = store
        self._lock = store.writers_lock.acquire(exclusive=False) if locked else None
        self._committed = False
        self._pack_fd: int | None = None
        self._pack_id = ""
        self._pack_tmp = ""
        self._pack_size = 0
        self._finished_packs: list[tuple[str, str]] = []
        self._loose_tmp: list[tuple[str, str]] = []
        self._unwritten: list[bytes] = []
        self._unwritten_bytes = 0
        self._writes = _GroupWrites()

    def __enter__(self) -> LocalObjectWriter:
        return self

    def _room(self) -> contextlib.AbstractContextManager[None]:
        """Around each place that writes (never per object: a pack group, a loose file),
        so a disk with no room is one sentence; the caller's ``with`` then aborts the
        batch and nothing of it stays."""
        where = f"the object store in '{self._store.root}'"
        return no_room_is_an_error(where, "nothing was kept: make room and run the command again.")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Abort an uncommitted batch; release the writers' lock either way.

        Callers keep the writer open until the metadata that names its objects is
        committed: while any writer is open, gc removes no files (see ``collect``).
        """
        if not self._committed:
            self.abort()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _put_large(self, path: str, size: int, known_digest: str | None, link: bool) -> str:
        """One pass: copy into the store while hashing (or link, then hash); duplicates dropped."""
        if known_digest is not None and self._have(known_digest):
            return known_digest
        if link and (digest := self._put_linked(path, size)) is not None:
            return digest
        tmp = self._store.tmp_path(".obj")
        try:
            with self._room():
                digest, stored = copy_hashing(path, tmp, direct=True)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # half-copied: the batch never knew it
            raise
        return self._add_loose(path, tmp, digest, stored, size)

    def _put_linked(self, path: str, size: int) -> str | None:
        tmp = self._store.tmp_path(".obj")
        taken = _take(path, tmp)
        if taken is None:
            return None
        digest, stored = _hash_taken(path, tmp, hard_link=taken == "hardlink")
        self._linked += 1
        return self._add_loose(path, tmp, digest, stored, size)

    def _add_loose(self, path: str, tmp: str, digest: str, stored: int, size: int) -> str:
        """Queue a finished temp file as a loose object, unless it changed or is a duplicate."""
        if stored != size:
            os.unlink(tmp)
            raise changed_while_adding(path)
        if self._have(digest):
            os.unlink(tmp)
            return digest
        self._loose_tmp.append((tmp, digest))
        self._rows[digest] = (None, 0, size)
        return digest

    def adopt(self, tmp: str, digest: str, size: int) -> None:
        """Take a file under the store's ``tmp/`` as a loose object; it must be complete and
        verified by ``commit``, and it is removed if the batch aborts (even half-written)."""
        self._loose_tmp.append((tmp, digest))
        self._rows[digest] = (None, 0, size)

    def put_objects(self, source: ObjectStore, sizes: dict[str, int]) -> None:
        """Have ``source`` write the objects this store lacks straight into its ``tmp/``:
        a download is hashed as it arrives and a local object is linked, so each object's
        bytes are written (and hashed) once, then renamed into place on ``commit``."""
        absent = self._index.missing(set(sizes) - set(self._rows))
        self._kept.update(d for d in sizes if d not in absent and d not in self._rows)
        targets = {digest: self._store.tmp_path(".obj") for digest in sorted(absent)}
        for digest, tmp in targets.items():
            self.adopt(tmp, digest, sizes[digest])
        with self._room():
            source.export(targets)

    def append(self, digest: str, data: bytes) -> None:
        """Write an object with no check for an existing copy (repacking moves live ones)."""
        if len(data) >= LOOSE_THRESHOLD:
            tmp = self._store.tmp_path(".obj")
            self._loose_tmp.append((tmp, digest))  # removed by an abort, even half-written
            with self._room(), open(tmp, "xb") as handle:
                handle.write(data)
            self._rows[digest] = (None, 0, len(data))
            return
        size = len(data)
        if self._pack_fd is None or self._pack_size + size > PACK_LIMIT:
            self._start_pack()
        self._unwritten.append(data)
        self._unwritten_bytes += size
        self._rows[digest] = (self._pack_id, self._pack_size, size)
        self._pack_size += size
        if len(self._unwritten) >= WRITE_GROUP or self._unwritten_bytes >= WRITE_GROUP_BYTES:
            self._write_out()

    def _write_out(self) -> None:
        """Write the objects appended since the last group, in one ``writev`` (the pack is
        still under ``tmp/``: a process killed before this leaves a shorter stray file)."""
        assert self._pack_fd is not None
        with self._room():
            self._writes.submit(self._pack_fd, self._unwritten, self._unwritten_bytes)
        self._unwritten = []
        self._unwritten_bytes = 0

    def _start_pack(self) -> None:
        self._close_pack()
        self._pack_id = uuid.uuid4().hex
        self._pack_tmp = self._store.tmp_path(".pack")
        with self._room():
            self._pack_fd = os.open(self._pack_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._pack_size = 0

    def _close_pack(self) -> None:
        if self._pack_fd is None:
            return
        self._write_out()
        with self._room():
            self._writes.wait()
            if _fsync_wanted():
                os.fsync(self._pack_fd)
        os.close(self._pack_fd)
        self._pack_fd = None
        self._finished_packs.append((self._pack_tmp, self._pack_id))

    def commit(self, replace: bool = False) -> None:
        """Place files, then index them; ``replace`` moves existing rows (repacking)."""
        self._flush_pending()
        self._close_pack()
        for tmp, pack_id in self._finished_packs:
            os.chmod(tmp, READ_ONLY)
            os.rename(tmp, self._store._pack_path(pack_id))
        for tmp, digest in self._loose_tmp:
            self._place_loose(tmp, digest)
        rows = [(d, p, o, s) for d, (p, o, s) in self._rows.items()]
        if replace:
            self._store._move_rows(rows)
        else:
            self._store._publish(rows, self._kept - set(self._rows))
        self._finished_packs.clear()
        self._loose_tmp.clear()
        self._committed = True

    def _place_loose(self, tmp: str, digest: str) -> None:
        """Link the finished file into place; never replaces a good object, always a bad one.

        A file already at the target is either the same object placed by another writer
        (kept) or a leftover that does not match its name (replaced, so that no garbage is
        ever adopted as an object).
        """
        target = self._store._loose_path(digest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.stat(tmp).st_mode & WRITE_BITS:  # a linked file is read-only already
            os.chmod(tmp, READ_ONLY)
        if _fsync_wanted():
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            if hash_file(target, os.path.getsize(target)) != digest:
                os.replace(tmp, target)
                return
        os.unlink(tmp)

    def abort(self) -> None:
        self._pending.clear()
        self._rows.clear()
        self._unwritten = []
        with contextlib.suppress(OSError):
            self._writes.wait()  # the batch is dropped: a failed write changes nothing
        if self._pack_fd is not None:
            os.close(self._pack_fd)
            self._pack_fd = None
            self._finished_packs.append((self._pack_tmp, self._pack_id))
        for tmp, _ in [*self._finished_packs, *self._loose_tmp]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._finished_packs.clear()
        self._loose_tmp.clear()
