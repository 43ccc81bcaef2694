"""The object store interface: immutable bytes addressed by their BLAKE3 hash.

Small, like Optuna's storages: the core only needs to ask what is missing, write a batch,
read back (verified), find a local file to link from, list, and collect garbage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol


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

    def read_many(self, digests: Iterable[str]) -> Iterator[tuple[str, bytes]]: ...

    def local_files(self, digests: Iterable[str]) -> dict[str, str]:
        """Read-only local files holding exactly the objects' bytes, where such files exist."""

    def iter_objects(self) -> Iterator[ObjectInfo]: ...

    def absent(self) -> set[str]:
        """Objects the store lists but whose bytes are gone."""

    def verify(self, digest: str) -> bool: ...

    def collect(self, keep: set[str], older_than: float) -> CollectReport: ...

    def stray_files(self) -> list[str]: ...

    def close(self) -> None: ...
