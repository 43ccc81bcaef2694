"""The object store interface: immutable bytes addressed by their BLAKE3 hash.

Small, like Optuna's storages: the core only needs to ask what is missing, write a batch,
read back (verified), find a local file to link from, hand objects to another store, list,
and collect garbage.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ..core.errors import IntegrityError
from ..core.hashing import hash_bytes

LOOSE_THRESHOLD = 1024 * 1024
"""Objects below this size are packed; larger ones are stored one per file (or S3 key)."""
PENDING_OBJECTS = 512
PENDING_BYTES = 32 * 1024 * 1024
"""Small objects wait in memory in groups (at most this many, or this many bytes), so that
one index query per group, not one per object, tells which of them the store already has."""


@dataclass(frozen=True)
class ObjectInfo:
    digest: str
    size: int
    stored_at: float
    packed: bool


@dataclass
class CollectReport:
    removed: int = 0
    removed_bytes: int = 0
    repacked: int = 0
    stray_removed: int = 0
    skipped: bool = False  # writers were active, so nothing was removed


class ObjectWriter(Protocol):
    """A batch of new objects that becomes visible all at once, on ``commit``.

    Used as a context manager that stays open until the metadata naming the objects is
    committed: leaving it uncommitted aborts the batch.
    """

    def __enter__(self) -> ObjectWriter: ...

    def __exit__(self, exc_type: object, *exc: object) -> None: ...

    def put_file(
        self, path: str, size: int, known_digest: str | None = None, *, link: bool = False
    ) -> str: ...

    def put_bytes(self, data: bytes) -> str: ...

    def put_objects(self, source: ObjectStore, sizes: dict[str, int]) -> None:
        """Copy large objects (digest -> size) of another store into this batch, verified."""

    def keep(self, digests: Iterable[str]) -> None:
        """Declare that the batch reuses existing objects, so a concurrent gc spares them."""

    @property
    def stored_bytes(self) -> int: ...

    @property
    def linked_files(self) -> int: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class ObjectStore(Protocol):
    def missing(self, digests: Iterable[str]) -> set[str]: ...

    def writer(self) -> ObjectWriter: ...

    def read_bytes(self, digest: str) -> bytes: ...

    def read_many(self, digests: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """(digest, verified bytes) for each of ``digests``. Every lookup (database, network)
        happens before the first object is yielded and only local files are read after it,
        so a forked child may finish the iteration (see ``core/forked.py``)."""
        ...

    def read_range(
        self, digest: str, start: int, end: int, chunk: int = 1024 * 1024
    ) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of one object, streamed in chunks."""

    def local_files(self, digests: Iterable[str]) -> dict[str, str]:
        """Read-only local files holding exactly the objects' bytes, where such files exist."""

    def export(self, targets: dict[str, str]) -> None:
        """Write each object (digest -> a new path on this machine) as a file of its bytes.

        Each is verified on the way; a corrupt or missing one raises ``IntegrityError``
        (files already written stay, for the caller that named them to remove).
        """

    def iter_objects(self) -> Iterator[ObjectInfo]: ...

    def absent(self) -> set[str]:
        """Objects the store lists but whose bytes are gone."""

    def verify(self, digest: str) -> bool: ...

    def collect(self, keep: set[str], older_than: float) -> CollectReport: ...

    def stray_files(self) -> list[str]: ...

    def close(self) -> None: ...


class _Indexed(Protocol):
    def missing(self, digests: Iterable[str]) -> set[str]: ...


class BatchWriter:
    """What every store's writer shares: small objects asked about in groups, reuse recorded.

    Subclasses say where bytes go: ``append`` (an object the store lacks) and
    ``_put_large`` (a file of at least ``LOOSE_THRESHOLD`` bytes). ``_rows`` maps each
    object the batch adds to (pack or None, offset, size).
    """

    def __init__(self, store: _Indexed) -> None:
        self._index = store
        self._rows: dict[str, tuple[str | None, int, int]] = {}
        self._kept: set[str] = set()
        self._pending: dict[str, bytes] = {}
        self._pending_bytes = 0
        self._linked = 0

    def append(self, digest: str, data: bytes) -> None:
        raise NotImplementedError

    def _put_large(self, path: str, size: int, known_digest: str | None, link: bool) -> str:
        """Store a large file; ``link`` asks for it to be taken by link where the store can."""
        raise NotImplementedError

    def _put_linked(self, path: str, size: int) -> str | None:
        """Take a file by reflink or read-only hard link; None where the store cannot (it
        keeps no files on this file system), and the file is then stored as usual."""
        return None

    def keep(self, digests: Iterable[str]) -> None:
        self._kept.update(digests)

    @property
    def stored_bytes(self) -> int:
        """Bytes this batch adds to the store (objects it already had cost nothing)."""
        return sum(size for _, _, size in self._rows.values())

    @property
    def linked_files(self) -> int:
        """Files taken by link rather than copied (``put_file(link=True)``)."""
        return self._linked

    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        if digest not in self._rows and digest not in self._pending:
            self._pending[digest] = data
            self._pending_bytes += len(data)
            if len(self._pending) >= PENDING_OBJECTS or self._pending_bytes >= PENDING_BYTES:
                self._flush_pending()
        return digest

    def _flush_pending(self) -> None:
        """Append the pending objects the store lacks; the rest are reused, not rewritten."""
        absent = self._index.missing(self._pending)
        for digest, data in self._pending.items():
            if digest in absent:
                self.append(digest, data)
            else:
                self._kept.add(digest)
        self._pending.clear()
        self._pending_bytes = 0

    def put_file(
        self, path: str, size: int, known_digest: str | None = None, *, link: bool = False
    ) -> str:
        """Store a file's bytes; returns the digest of exactly the bytes stored.

        ``link``: the file may be taken by reflink or read-only hard link rather than
        copied, where the store keeps files on the same file system (see ``core.links``).
        A small file taken so is stored loose, not packed, so checkouts can link it too.
        """
        if size < LOOSE_THRESHOLD:
            if link and (digest := self._put_linked(path, size)) is not None:
                return digest
            fd = os.open(path, os.O_RDONLY)
            try:
                data = os.read(fd, size + 1)
            finally:
                os.close(fd)
            if len(data) != size:
                raise changed_while_adding(path)
            return self.put_bytes(data)
        return self._put_large(path, size, known_digest, link)

    def put_objects(self, source: ObjectStore, sizes: dict[str, int]) -> None:
        """Store large objects of ``source`` from the local files it has (or fetches) for them.

        A store on another machine (S3) uploads them, hashing what it sends; the local
        store overrides this to take them straight from ``source`` (``export``), written or
        linked once.
        """
        files = source.local_files(sizes)  # read-only, never rewritten
        for digest, size in sizes.items():
            self.put_file(files[digest], size, digest)

    def _have(self, digest: str) -> bool:
        """Whether the batch or the store already holds ``digest`` (then it is kept, not written)."""
        if digest in self._rows:
            return True
        if self._index.missing([digest]):
            return False
        self._kept.add(digest)
        return True


def changed_while_adding(path: str) -> IntegrityError:
    return IntegrityError(f"'{path}' changed while it was being added; run the command again.")
