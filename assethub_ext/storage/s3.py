"""The team object store: any S3-compatible service, through boto3.

Layout under ``s3://bucket/prefix``::

    packs/<id>.pack       small objects back to back, one key per ~16 MiB of a batch
    objects/ab/<digest>   large objects, one key each (multipart above 64 MiB)

Where each object lives is indexed in the hub's database (``store_objects``), so asking
which of 20,000 objects are missing is one query, not 20,000 requests, and every machine
gets the same answer. Small objects are packed for the reason the local store packs them,
only stronger: a request to S3 costs a round trip (milliseconds) where creating a file
costs microseconds, so 20,000 files of 4 KiB become five uploads instead of 20,000.

Writes: keys are new (packs) or named by their content (loose), sent with a CRC32
checksum that the server checks, in parallel, and with ``If-None-Match: *`` so that no
key is ever overwritten. A batch becomes visible only when its index rows are committed;
an upload cut off leaves keys that no row names: a retry adopts the loose ones that are
complete (only what is missing travels again) and ``gc`` removes the rest.

Reads go through a cache on this machine, itself a local object store: every byte is
verified against its hash once on the way in, and repeated checkouts read local files
(and can link large ones). A pull into a local store skips the cache (``export``): each
large object is downloaded into that store's ``tmp/`` in one GET, hashed as it streams.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import blake3
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import delete, select, update

from ..core.errors import IntegrityError, InvalidInput, Unavailable
from ..core.hashing import CHUNK, hash_bytes, hash_file
from .local import LocalObjectStore, chunks
from .metadata import store_objects
from .objects import BatchWriter, CollectReport, ObjectInfo, changed_while_adding

if TYPE_CHECKING:
    from .locks import WritersLock
    from .metadata import MetadataStore

PACK_TARGET = 16 * 1024 * 1024
THREADS = 8
IN_FLIGHT = 2 * THREADS
"""Uploads queued at once; the next waits, so a batch's memory stays bounded."""
TRANSFER = TransferConfig(
    multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)
CHECKSUM = {"ChecksumAlgorithm": "CRC32"}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")

Row = tuple[str | None, int, int]


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, "prefix/") ; the prefix may be empty."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.fullmatch(bucket) or not _PREFIX.fullmatch(prefix) or ".." in prefix:
        raise InvalidInput(
            f"object store '{url}' is not a valid s3://bucket/prefix (bucket names are 3-63 "
            "lowercase letters, digits, '.' and '-')."
        )
    return bucket, f"{prefix}/" if prefix else ""


@contextmanager
def _s3_errors(doing: str) -> Iterator[None]:
    """A failed or unreachable S3 becomes one sentence; nothing half-done was indexed."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unavailable(
            f"the object store failed while {doing} ({reason}); nothing half-done was kept: "
            "run the command again."
        ) from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _refuse_overwrite(params: dict[str, Any], **_: Any) -> None:
    params.setdefault("IfNoneMatch", "*")


def _corrupt(digest: str) -> IntegrityError:
    return IntegrityError(
        f"object {digest[:12]} is corrupt in the object store (its bytes do not match its "
        "hash); run 'assethub fsck'."
    )


def _verified(digest: str, data: bytes) -> bytes:
    if hash_bytes(data) != digest:
        raise _corrupt(digest)
    return data


class _HashingReader:
    """A file read front to back by the uploader, hashed on the way: what was sent is known."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.size = 0

    def read(self, amount: int = -1) -> bytes:
        data = self._file.read(amount)
        self._hasher.update(data)
        self.size += len(data)
        return data

    def digest(self) -> str:
        return str(self._hasher.hexdigest())

    def close(self) -> None:
        self._file.close()


class S3ObjectStore:
    def __init__(
        self, url: str, meta: MetadataStore, cache_root: str, writers_lock: WritersLock
    ) -> None:
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        config = Config(max_pool_connections=4 * THREADS, retries={"mode": "standard"})
        self.client = boto3.session.Session().client("s3", config=config)
        for operation in ("PutObject", "CompleteMultipartUpload"):
            self.client.meta.events.register(
                f"before-parameter-build.s3.{operation}", _refuse_overwrite
            )
        self.meta = meta
        self.writers_lock = writers_lock
        where = f"{self.client.meta.endpoint_url}|{self.bucket}|{self.prefix}"
        self.cache = LocalObjectStore(os.path.join(cache_root, hash_bytes(where.encode())[:16]))

    # -- keys ------------------------------------------------------------------------------
    def loose_key(self, digest: str) -> str:
        return f"{self.prefix}objects/{digest[:2]}/{digest}"

    def pack_key(self, pack: str) -> str:
        return f"{self.prefix}packs/{pack}.pack"

    # -- the index -------------------------------------------------------------------------
    def _locations(self, digests: Iterable[str]) -> dict[str, Row]:
        table = store_objects.c
        found: dict[str, Row] = {}
        with self.meta.read() as conn:
            for chunk in chunks(digests):
                query = select(table.digest, table.pack, table.offset, table.size).where(
                    table.digest.in_(chunk)
                )
                for row in conn.execute(query):
                    found[row.digest] = (row.pack, row.offset, row.size)
        return found

    def missing(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        return wanted - set(self._locations(wanted))

    def _rows(self) -> list[Any]:
        """Every index row (digest, pack, offset, size, stored_at)."""
        with self.meta.read() as conn:
            return list(conn.execute(select(store_objects)))

    def iter_objects(self) -> Iterator[ObjectInfo]:
        for r in self._rows():
            yield ObjectInfo(r.digest, r.size, r.stored_at, r.pack is not None)

    def publish(self, rows: dict[str, Row], kept: set[str]) -> None:
        """Index a batch and refresh the age of the objects it reuses, in one transaction."""
        now = time.time()
        with self.meta.write() as conn:
            known: set[str] = set()
            for chunk in chunks(rows):
                found = select(store_objects.c.digest).where(store_objects.c.digest.in_(chunk))
                known.update(conn.execute(found).scalars())
            fresh = [
                {"digest": d, "pack": p, "offset": o, "size": s, "stored_at": now}
                for d, (p, o, s) in rows.items()
                if d not in known
            ]
            if fresh:
                conn.execute(store_objects.insert(), fresh)
            lost = set(kept)
            for chunk in chunks(kept):
                column = store_objects.c.digest
                conn.execute(update(store_objects).where(column.in_(chunk)).values(stored_at=now))
                lost -= set(conn.execute(select(column).where(column.in_(chunk))).scalars())
            if lost:
                raise IntegrityError(
                    f"{len(lost)} object(s) were garbage-collected while this change was being "
                    "written; run the command again."
                )

    # -- writing (used by S3ObjectWriter) ----------------------------------------------------
    def writer(self) -> S3ObjectWriter:
        return S3ObjectWriter(self)

    def put_new(self, key: str, body: bytes) -> None:
        """Upload a key that must not exist yet (a fresh pack); a clash is a bug, not a race."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **CHECKSUM)

    def upload_file(self, path: str, size: int, digest: str) -> None:
        """Upload a large file as its digest's key, unless an earlier upload already landed.

        The file is hashed as it is sent: if it changed since it was hashed, the key (which
        ``If-None-Match`` guarantees is the one just created) is removed again.
        """
        key = self.loose_key(digest)
        if self._size_of(key) == size:
            return  # an interrupted run finished this one: it does not travel again
        reader = _HashingReader(path)
        try:
            self.client.upload_fileobj(
                reader, self.bucket, key, ExtraArgs=CHECKSUM, Config=TRANSFER
            )
        except ClientError as exc:
            if _error_code(exc) not in ("PreconditionFailed", "412"):
                raise
            return  # someone else stored the same object meanwhile
        finally:
            reader.close()
        if reader.digest() != digest or reader.size != size:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            raise changed_while_adding(path)

    def _size_of(self, key: str) -> int | None:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    # -- reading, through this machine's cache -----------------------------------------------
    def read_bytes(self, digest: str) -> bytes:
        self._fill_cache([digest])
        return self.cache.read_bytes(digest)

    def read_many(self, digests: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = list(dict.fromkeys(digests))
        self._fill_cache(wanted)
        yield from self.cache.read_many(wanted)

    def read_range(
        self, digest: str, start: int, end: int, chunk: int = 1024 * 1024
    ) -> Iterator[bytes]:
        """A byte range, served from the cache (filled and verified first, once per machine)."""
        self._fill_cache([digest])
        yield from self.cache.read_range(digest, start, end, chunk)

    def local_files(self, digests: Iterable[str]) -> dict[str, str]:
        """Large objects, fetched into the cache once, where a checkout can link them."""
        loose = [d for d, (pack, _, _) in self._locations(set(digests)).items() if pack is None]
        self._fill_cache(loose)
        return self.cache.local_files(loose)

    def export(self, targets: dict[str, str]) -> None:
        """Objects the cache holds are exported from it; the rest are downloaded straight
        to their targets (not through the cache: the caller is keeping them)."""
        cached = self.cache.local_files(targets)
        self.cache.export({d: path for d, path in targets.items() if d in cached})
        rest = {d: path for d, path in targets.items() if d not in cached}
        self._download_all(rest, self._located(set(rest)))

    def _located(self, digests: set[str]) -> dict[str, Row]:
        """Where each object lives; one that the index does not name is refused."""
        locations = self._locations(digests)
        absent = digests - set(locations)
        if absent:
            raise IntegrityError(
                f"{len(absent)} object(s) are missing from the store (first "
                f"{sorted(absent)[0][:12]}); run 'assethub fsck'."
            )
        return locations

    def _fill_cache(self, digests: list[str]) -> None:
        """Download what the cache lacks, verify it, and add it to the cache in one batch."""
        need = self.cache.missing(digests)
        if not need:
            return
        locations = self._located(need)
        by_pack: dict[str, list[tuple[int, int, str]]] = {}
        loose: dict[str, str] = {}
        for digest, (pack, offset, size) in locations.items():
            if pack is None:
                loose[digest] = self.cache.tmp_path(".obj")
            else:
                by_pack.setdefault(pack, []).append((offset, size, digest))
        with self.cache.writer() as writer:
            for digest, tmp in loose.items():
                writer.adopt(tmp, digest, locations[digest][2])
            self._download_all(loose, locations)
            with ThreadPoolExecutor(THREADS) as pool, _s3_errors("downloading"):
                packs = [pool.submit(self._fetch_from_pack, p, i) for p, i in by_pack.items()]
                for pack_future in packs:
                    for digest, data in pack_future.result():
                        writer.append(digest, data)
            writer.commit()

    def _download_all(self, targets: dict[str, str], locations: dict[str, Row]) -> None:
        """Download objects to their target files, ``THREADS`` at a time; at the first
        failure the queued ones are cancelled and it is raised once the running ones end."""
        if not targets:
            return
        with ThreadPoolExecutor(THREADS) as pool, _s3_errors("downloading"):
            futures = [pool.submit(self._download, d, locations[d], t) for d, t in targets.items()]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    def _download(self, digest: str, location: Row, target: str) -> None:
        """One GET streamed into ``target`` (created exclusively) and hashed on the way.

        One request, not ranged parts in parallel: measured against moto's server, parts of
        16 MiB made a 1 GiB download 8x slower (the server reads the whole object for each
        part), and a single stream hashed as it arrives needs no second pass over the file.
        """
        with open(target, "xb") as out:
            if not self._hashed_get(digest, location, out):
                os.unlink(target)
                raise _corrupt(digest)

    def _hashed_get(self, digest: str, location: Row, out: BinaryIO | None) -> bool:
        """Stream an object's bytes from S3 (to ``out``, if given); whether they match its hash."""
        pack, offset, size = location
        if size == 0:
            return hash_bytes(b"") == digest
        if pack is None:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.loose_key(digest))
        else:
            reply = self.client.get_object(
                Bucket=self.bucket,
                Key=self.pack_key(pack),
                Range=f"bytes={offset}-{offset + size - 1}",
            )
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        got = 0
        for chunk in reply["Body"].iter_chunks(CHUNK):
            hasher.update(chunk)
            got += len(chunk)
            if out is not None:
                out.write(chunk)
        return got == size and hasher.hexdigest() == digest

    def _fetch_from_pack(
        self, pack: str, items: list[tuple[int, int, str]]
    ) -> list[tuple[str, bytes]]:
        """One ranged GET spanning every wanted object of a pack; each one is verified."""
        items.sort()
        start, end = items[0][0], max(o + s for o, s, _ in items)
        data = self._get_range(self.pack_key(pack), start, end)
        return [(d, _verified(d, data[o - start : o - start + s])) for o, s, d in items]

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        if end == start:
            return b""
        reply = self.client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
        )
        return bytes(reply["Body"].read())

    # -- checking ------------------------------------------------------------------------
    def verify(self, digest: str) -> bool:
        """Re-hash the bytes in S3 (not the cache), streaming large objects."""
        location = self._locations([digest]).get(digest)
        if location is None:
            return False
        try:
            return self._hashed_get(digest, location, None)
        except (BotoCoreError, ClientError):
            return False

    def _listing(self) -> dict[str, tuple[int, float]]:
        """key -> (size, last modified) for every key under the prefix."""
        found = {}
        with _s3_errors("listing the store"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"]] = (int(item["Size"]), item["LastModified"].timestamp())
        return found

    def absent(self) -> set[str]:
        """Indexed objects whose bytes are not in the bucket (a lost key or a cut pack)."""
        listing = self._listing()
        lost = set()
        for row in self._rows():
            key = self.pack_key(row.pack) if row.pack is not None else self.loose_key(row.digest)
            if listing.get(key, (-1, 0.0))[0] < row.offset + row.size:
                lost.add(row.digest)
        return lost

    def stray_files(self) -> list[str]:
        """Keys that no index row names: uploads of batches that never landed."""
        return [f"s3://{self.bucket}/{key}" for key in self._stray_keys(self._listing())]

    def _stray_keys(self, listing: dict[str, tuple[int, float]]) -> list[str]:
        named = {
            self.pack_key(r.pack) if r.pack is not None else self.loose_key(r.digest)
            for r in self._rows()
        }
        return sorted(key for key in listing if key not in named)

    # -- garbage ---------------------------------------------------------------------------
    def collect(self, keep: set[str], older_than: float) -> CollectReport:
        """Like the local store's: only while no writer is open anywhere; also trims the cache."""
        report = CollectReport()
        lock = self.writers_lock.acquire(exclusive=True)
        if lock is None:
            report.skipped = True
            return report
        try:
            doomed = [
                i for i in self.iter_objects() if i.digest not in keep and i.stored_at < older_than
            ]
            with self.meta.write() as conn:
                for chunk in chunks(i.digest for i in doomed):
                    conn.execute(delete(store_objects).where(store_objects.c.digest.in_(chunk)))
            report.removed = len(doomed)
            report.removed_bytes = sum(i.size for i in doomed)
            self.delete_keys([self.loose_key(i.digest) for i in doomed if not i.packed])
            listing = self._listing()
            report.repacked = self._repack(listing, older_than)
            stray = [k for k in self._stray_keys(listing) if listing[k][1] < older_than]
            self.delete_keys(stray)
            report.stray_removed = len(stray)
        finally:
            lock.release()
        self.cache.collect(keep, older_than)
        return report

    def delete_keys(self, keys: list[str]) -> None:
        with _s3_errors("deleting garbage"):
            for start in range(0, len(keys), 1000):
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})

    def _repack(self, listing: dict[str, tuple[int, float]], older_than: float) -> int:
        """Rewrite packs that hold garbage as new packs of their live objects; drop the old."""
        live: dict[str, list[tuple[int, int, str]]] = {}
        for row in self._rows():
            if row.pack is not None:
                live.setdefault(row.pack, []).append((row.offset, row.size, row.digest))
        repacked = 0
        for key, (size, modified) in listing.items():
            pack = key.removeprefix(f"{self.prefix}packs/").removesuffix(".pack")
            members = live.get(pack)
            if not key.endswith(".pack") or members is None or modified >= older_than:
                continue  # strays are removed elsewhere; young packs may be landing
            if sum(s for _, s, _ in members) == size:
                continue
            with S3ObjectWriter(self, locked=False) as writer, _s3_errors("repacking"):
                for digest, data in self._fetch_from_pack(pack, members):
                    writer.append(digest, data)
                writer.commit(replace=True)
            self.delete_keys([key])
            repacked += 1
        return repacked

    def move_rows(self, rows: dict[str, Row]) -> None:
        with self.meta.write() as conn:
            for digest, (pack, offset, _) in rows.items():
                conn.execute(
                    update(store_objects)
                    .where(store_objects.c.digest == digest)
                    .values(pack=pack, offset=offset)
                )

    def close(self) -> None:
        self.cache.close()
        self.client.close()


class S3ObjectWriter(BatchWriter):
    """One batch: small objects into packs of ~16 MiB, large ones as keys of their own, all
    uploaded by a thread pool while the caller goes on hashing; indexed on ``commit``."""

    def __init__(self, store: S3ObjectStore, *, locked: bool = True) -> None:
        super().__init__(store)
        self._store = store
        self._lock = store.writers_lock.acquire(exclusive=False) if locked else None
        self._pool = ThreadPoolExecutor(THREADS)
        self._uploads: list[Future[None]] = []
        self._shipped_packs: list[str] = []
        self._pack = bytearray()
        self._pack_id = uuid.uuid4().hex
        self._committed = False

    def __enter__(self) -> S3ObjectWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Abort an uncommitted batch; release the writers' lock either way."""
        if not self._committed:
            self.abort()
        self._pool.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def append(self, digest: str, data: bytes) -> None:
        self._rows[digest] = (self._pack_id, len(self._pack), len(data))
        self._pack += data
        if len(self._pack) >= PACK_TARGET:
            self._ship_pack()

    def _ship_pack(self) -> None:
        if not self._pack:
            return
        key = self._store.pack_key(self._pack_id)
        self._submit(self._store.put_new, key, bytes(self._pack))
        self._shipped_packs.append(key)
        self._pack = bytearray()
        self._pack_id = uuid.uuid4().hex

    def _put_large(self, path: str, size: int, known_digest: str | None, link: bool) -> str:
        digest = known_digest or hash_file(path, size)
        if self._have(digest):
            return digest
        self._rows[digest] = (None, 0, size)
        self._submit(self._store.upload_file, path, size, digest)
        return digest

    def _submit(self, func: Callable[..., None], *args: Any) -> None:
        """Queue an upload; past ``IN_FLIGHT`` wait for the oldest (and raise its error)."""
        with _s3_errors("uploading"):
            while len([u for u in self._uploads if not u.done()]) >= IN_FLIGHT:
                next(u for u in self._uploads if not u.done()).result()
        self._uploads.append(self._pool.submit(func, *args))

    def _wait(self) -> None:
        """Every upload finished; the first failure is raised once none is running."""
        errors = [u.exception() for u in self._uploads]
        self._uploads.clear()
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            with _s3_errors("uploading"):
                raise first

    def commit(self, replace: bool = False) -> None:
        """Upload what is left, wait for every upload, then index the batch."""
        self._flush_pending()
        self._ship_pack()
        self._wait()
        if replace:
            self._store.move_rows(self._rows)
        else:
            self._store.publish(self._rows, self._kept - set(self._rows))
        self._committed = True

    def abort(self) -> None:
        """Stop queued uploads; packs already sent are removed (best effort, else gc does)."""
        for upload in self._uploads:
            upload.cancel()
        self._uploads.clear()
        self._pool.shutdown(wait=True)
        if self._shipped_packs:
            with contextlib.suppress(Unavailable):
                self._store.delete_keys(self._shipped_packs)
        self._pending.clear()
        self._rows.clear()
        self._pack = bytearray()
