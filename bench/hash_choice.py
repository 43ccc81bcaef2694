"""Which hash for content addressing? Throughput of the candidates on this machine.

The store needs a cryptographic hash (content addresses must not collide, even for
hostile input), so the candidates are BLAKE3 (one thread and all cores), SHA-256, and MD5
(what DVC uses, not collision-resistant) as the reference. Measured on one in-memory
buffer, so the disk does not decide; results go to ``bench/results/``.

Run: ``python bench/hash_choice.py [--mib 512]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import blake3

RESULTS = Path(__file__).resolve().parent / "results"


def _blake3_threads(data: bytes) -> str:
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()


CANDIDATES: dict[str, Callable[[bytes], str]] = {
    "blake3 (all cores)": _blake3_threads,
    "blake3 (one core)": lambda data: blake3.blake3(data).hexdigest(),
    "sha256": lambda data: hashlib.sha256(data).hexdigest(),
    "md5 (DVC)": lambda data: hashlib.md5(data).hexdigest(),
}


def throughput(func: Callable[[bytes], str], data: bytes, repeat: int = 3) -> float:
    """Best of ``repeat`` runs, in GB/s (best, because noise only ever slows a run down)."""
    best = min(_timed(func, data) for _ in range(repeat))
    return len(data) / best / 1e9


def _timed(func: Callable[[bytes], str], data: bytes) -> float:
    start = time.perf_counter()
    func(data)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="buffer size in MiB")
    args = parser.parse_args()
    data = os.urandom(args.mib * 1024 * 1024)
    rates = {name: throughput(func, data) for name, func in CANDIDATES.items()}
    md5 = rates["md5 (DVC)"]
    lines = [
        f"# Hash throughput, {date.today()}, {platform.node()} ({os.cpu_count()} CPUs, "
        f"{platform.platform(terse=True)}), {args.mib} MiB buffer",
        "",
        "| hash | GB/s | vs md5 |",
        "| --- | --- | --- |",
        *[f"| {name} | {rate:.2f} | {rate / md5:.1f}x |" for name, rate in rates.items()],
    ]
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"{date.today()}-hash-choice"
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    stem.with_suffix(".json").write_text(json.dumps({"mib": args.mib, "gb_per_s": rates}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
