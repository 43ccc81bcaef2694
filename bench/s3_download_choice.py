"""How should a large object come down from S3? Ranged parts in parallel, or one stream?

The store verifies every download against its BLAKE3 hash. Candidates, each ending with a
verified file on disk:

- **parts of 16 MiB, 4 at once** (boto3's ``download_file`` with the store's upload
  settings, then a hash pass over the file): what the store did before;
- **parts of 128 MiB, 4 at once**, then a hash pass;
- **one GET, hashed as it streams** (what ``S3ObjectStore._download`` does now).

Against moto's S3 server on loopback (the server the tests and ``team.py`` use), in this
process; median of ``--repeat`` runs. Results go to ``bench/results/``.

Run: ``python bench/s3_download_choice.py [--mib 1024] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import blake3
from boto3.s3.transfer import TransferConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from servers import S3_ENV, S3Server  # noqa: E402

from assethub_ext.core.hashing import CHUNK, hash_file  # noqa: E402

Download = Callable[[Any, str, str], str]


def _parts(chunk_mib: int) -> Download:
    config = TransferConfig(
        multipart_threshold=64 << 20, multipart_chunksize=chunk_mib << 20, max_concurrency=4
    )

    def download(client: Any, bucket: str, target: str) -> str:
        client.download_file(bucket, "big", target, Config=config)
        return hash_file(target, os.path.getsize(target))

    return download


def _one_stream(client: Any, bucket: str, target: str) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    reply = client.get_object(Bucket=bucket, Key="big")
    with open(target, "wb") as out:
        for chunk in reply["Body"].iter_chunks(CHUNK):
            hasher.update(chunk)
            out.write(chunk)
    return str(hasher.hexdigest())


CANDIDATES: dict[str, Download] = {
    "parts of 16 MiB, 4 at once, then hashed (before)": _parts(16),
    "parts of 128 MiB, 4 at once, then hashed": _parts(128),
    "one GET, hashed as it streams (now)": _one_stream,
}


def measure(mib: int, repeat: int) -> dict[str, list[float]]:
    """Seconds per run of each candidate, downloading one object of ``mib`` MiB."""
    s3 = S3Server()
    s3.start()
    try:
        client, bucket = s3.client(), s3.bucket()
        data = os.urandom(mib << 20)
        expected = blake3.blake3(data).hexdigest()
        client.put_object(Bucket=bucket, Key="big", Body=data)
        del data
        seconds: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        with tempfile.TemporaryDirectory(prefix="assethub-s3-download-") as work:
            for run in range(repeat):
                for name, download in CANDIDATES.items():
                    target = os.path.join(work, f"{run}.bin")
                    start = time.perf_counter()
                    if download(client, bucket, target) != expected:
                        raise SystemExit(f"{name}: the downloaded bytes do not match")
                    seconds[name].append(time.perf_counter() - start)
                    os.unlink(target)
        return seconds
    finally:
        s3.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="the object's size in MiB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name, value in S3_ENV.items():
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log
    seconds = measure(args.mib, args.repeat)
    median = {name: statistics.median(times) for name, times in seconds.items()}
    fastest = min(median.values())
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"# Downloading one {args.mib:,} MiB object from moto's S3 server, {date.today()}, "
        f"{platform.node()} ({os.cpu_count()} CPUs)",
        "",
        f"Median of {args.repeat} run(s), each ending with the file on disk and its BLAKE3 "
        f"hash checked. Load average at the end (1/5/15 min): {load}.",
        "",
        "| download | s | vs fastest |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {s:.2f} | {s / fastest:.1f}x |" for name, s in median.items()],
    ]
    stem = (
        HERE
        / "results"
        / f"{date.today()}-{platform.node()}-{os.cpu_count()}cpu-s3-download-choice"
    )
    stem.parent.mkdir(exist_ok=True)
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    record = {"mib": args.mib, "seconds": seconds, "median": median, "load": load}
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
