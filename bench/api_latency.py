"""Latency of the REST API under load, and server memory against history length (issue 4).

Builds a hub with an asset of 10,000 commits (and one of 1,000), and a commit of 100,000
files, directly through the core's metadata layer (seconds, not 10,000 CLI calls); starts a
real ``jupyter server`` with the extension on loopback; then times pages of the log, pages
of the big commit's tree and lineage graphs at 1 and 32 concurrent clients (aiohttp), with
jupyter-server's own ``/api/status`` as the floor any handler pays. Memory: the server's
RSS after paging through a whole history of 1,000 commits, and of 10,000, each in a fresh
server. Writes ``bench/results/<date>-api-latency.{md,json}``.

    python bench/api_latency.py [--requests 600] [--out bench/results] [--small] [--tag NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from assethub_ext import Hub, __version__
from assethub_ext.core.names import parse_asset_path
from assethub_ext.core.tree import Tree, TreeEntry

TOKEN = "bench-token"
LONG, SHORT, WIDE = "bench/model/hist/long", "bench/model/hist/short", "bench/model/hist/wide"
SOURCE = "bench/dataset/data/src"
TARGET_P99 = 0.050


# -- building the hub ---------------------------------------------------------------------------


def build_hub(home: Path, long_commits: int, short_commits: int, files: int) -> None:
    with Hub(str(home), user="bench") as hub:
        hub.create(SOURCE)
        with tempfile.TemporaryDirectory() as src:
            Path(src, "x.csv").write_text("1\n")
            hub.add(SOURCE, [str(Path(src, "x.csv"))])
        version = hub.publish(SOURCE)
        source = {"ref": f"{SOURCE}:v1", "asset": SOURCE, "commit": version.commit_id}
        with hub.objects.writer() as writer:
            blob = writer.put_bytes(b"weights")
            small = hub._store_tree(writer, Tree([TreeEntry("w.bin", blob, 7)]))
            wide = hub._store_tree(
                writer,
                Tree(TreeEntry(f"d{i // 1000:03}/f{i:06}.bin", blob, 7) for i in range(files)),
            )
            writer.commit()
        chain(hub, LONG, long_commits, small, source)
        chain(hub, SHORT, short_commits, small, source)
        chain(hub, WIDE, 1, wide, source)


def chain(hub: Hub, path: str, count: int, tree: str, source: dict[str, str]) -> None:
    """A model with ``count`` commits on main, every 100th using the dataset as an input."""
    hub.create(path)
    with hub.meta.write() as conn:
        asset = hub._asset(conn, parse_asset_path(path), "edit")
        parent: str | None = None
        for i in range(count):
            commit = hub._make_commit(
                asset,
                kind="commit",
                tree=tree,
                parents=[parent] if parent else [],
                message=f"step {i}",
                params={"lr": 0.01, "step": i},
                metrics={"loss": 1 / (i + 1), "acc": i / count},
                lineage={"inputs": [source]} if i % 100 == 0 else {},
            )
            hub.meta.insert_commit(conn, commit)
            parent = commit.id
        assert parent is not None
        hub.meta.create_ref(conn, asset.id, "main", "branch", parent)


# -- the server ---------------------------------------------------------------------------------


@contextmanager
def jupyter_server(home: Path, work: Path, cache: bool = True) -> Iterator[tuple[str, int]]:
    """A jupyter server with the extension on a free loopback port: (base URL, pid).

    ``cache=False`` turns the response cache off, to time every request's full work.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSETHUB_", "JUPYTER_"))}
    env.update(ASSETHUB_HOME=str(home), ASSETHUB_USER="bench", HOME=str(work))
    env.update(JUPYTER_CONFIG_DIR=str(work / "config"), JUPYTER_RUNTIME_DIR=str(work / "rt"))
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--ServerApp.port={port}"]
    command += ["--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}"]
    command += [f"--ServerApp.root_dir={work}", "--ServerApp.log_level=WARN"]
    command += ["--ServerApp.jpserver_extensions={'assethub_ext': True}"]
    if not cache:
        command += ["--ServerApp.tornado_settings={'assethub_response_cache_mib': 0}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                get(f"{base}/assethub/api/version")
                break
            except OSError:
                time.sleep(0.1)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def get(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def rss(pid: int) -> dict[str, int]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}


def page_urls(base: str, endpoint: str, query: str, key: str) -> list[str]:
    """Every page of a listing, walked once untimed: the URLs the clients will ask for."""
    urls, cursor = [], None
    while True:
        url = f"{base}/assethub/api/{endpoint}?{query}" + (f"&cursor={cursor}" if cursor else "")
        urls.append(url)
        page = get(url)
        assert page[key], url
        cursor = page["next"]
        if cursor is None:
            return urls


# -- load ---------------------------------------------------------------------------------------


async def load(urls: list[str], clients: int, requests: int) -> dict[str, float]:
    """``requests`` GETs cycling through ``urls`` from ``clients`` concurrent clients."""
    latencies: list[float] = []
    counter = iter(range(requests))
    headers = {"Authorization": f"token {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client() -> None:
            for i in counter:
                start = time.perf_counter()
                async with session.get(urls[i % len(urls)]) as response:
                    await response.read()
                    assert response.status == 200, (response.status, urls[i % len(urls)])
                latencies.append(time.perf_counter() - start)

        for url in urls[: min(len(urls), 20)]:  # warm the connections and caches, untimed
            async with session.get(url) as response:
                await response.read()
        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(latencies) * 1000,
        "per_second": len(latencies) / elapsed,
    }


def scenarios(base: str) -> dict[str, list[str]]:
    """The URLs of each timed row, as the panel asks: trees and lineage by full commit id."""
    log_urls = page_urls(base, "log", f"ref={LONG}&limit=100", "commits")
    heads = [c["id"] for u in log_urls[::10] for c in get(u)["commits"][:1]]
    wide = get(f"{base}/assethub/api/commit?ref={WIDE}")["commit"]["id"]
    return {
        "jupyter /api/status": [f"{base}/api/status"],
        "log page": log_urls,
        "tree page": page_urls(base, "tree", f"ref={WIDE}:{wide}&limit=100", "files"),
        "lineage, up 5": [
            f"{base}/assethub/api/lineage?ref={LONG}:{h}&direction=up&depth=5" for h in heads
        ],
        "lineage, both 3 (the panel's)": [
            f"{base}/assethub/api/lineage?ref={LONG}:{h}&direction=both&depth=3" for h in heads
        ],
    }


def memory_after_paging(home: Path, work: Path, path: str) -> dict[str, int]:
    """RSS of a fresh server after reading the whole log of ``path`` three times."""
    with jupyter_server(home, work) as (base, pid):
        before = rss(pid)
        for _ in range(3):
            page_urls(base, "log", f"ref={path}&limit=100", "commits")
        after = rss(pid)
    return {"rss_start": before["VmRSS"], "rss_after": after["VmRSS"], "peak": after["VmHWM"]}


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "assethub": __version__,
        "aiohttp": aiohttp.__version__,
    }


def report(results: dict[str, Any]) -> str:
    sizes = results["sizes"]
    lines = [
        f"# REST API latency — {results['date']}",
        "",
        f"Machine: {results['machine']['cpus']} CPUs ({results['machine']['cpu']}), "
        f"{results['machine']['memory_gib']} GiB, Python {results['machine']['python']}, "
        f"Asset Hub {results['machine']['assethub']}. Server and clients share the machine.",
        "",
        f"Hub: a model with {sizes['long']:,} commits (and one with {sizes['short']:,}), a commit of "
        f"{sizes['files']:,} files; pages of 100. {results['requests']} requests per row. "
        f"Target: p99 < {TARGET_P99 * 1000:.0f} ms for a page of 100 at 32 clients.",
        "",
        "| request | clients | p50 ms | p99 ms | max ms | req/s | p99 vs /api/status | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, by_clients in results["latency"].items():
        for clients, row in by_clients.items():
            same_server = ", cache on" in name or name.endswith("(again)")
            status = "jupyter /api/status" + (" (again)" if same_server else "")
            floor = results["latency"][status][clients]["p99_ms"]
            met = (
                ""
                if name.startswith("jupyter") or clients != "32"
                else ("met" if row["p99_ms"] < TARGET_P99 * 1000 else "missed")
            )
            lines.append(
                f"| {name} | {clients} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                f"{row['max_ms']:.1f} | {row['per_second']:.0f} | "
                f"{row['p99_ms'] / floor:.1f}x | {met} |"
            )
    memory = results["memory"]
    lines += [
        "",
        "Server memory after reading a whole log three times, each in a fresh server:",
        "",
        "| history | RSS at start MiB | RSS after MiB | peak MiB |",
        "|---:|---:|---:|---:|",
    ]
    for label, row in memory.items():
        lines.append(
            f"| {label} commits | {row['rss_start'] / 2**20:.1f} | {row['rss_after'] / 2**20:.1f} | "
            f"{row['peak'] / 2**20:.1f} |"
        )
    load = results["load_average"]
    lines += [
        "",
        f"Load average (1 min) at start / end: {load['start']:.1f} / {load['end']:.1f} "
        f"on {results['machine']['cpus']} CPUs (other jobs shared the machine).",
        "",
        "Reading it: each row runs on one of two servers, the response cache off, then on,",
        "and is compared with jupyter-server's own /api/status timed on that same server in the",
        "same run (the machine is shared: compare ratios, not milliseconds, across runs).",
        "jupyter-server handles one request at a time on its event loop, so at 32 clients p99",
        "is about 32 times what one request costs. With the cache, a log or tree page asked",
        "again is a permission check (the ref resolved for the caller) and a dictionary lookup.",
        "Lineage is kept by the core whatever the response cache does: a repeated graph costs",
        "the ref's resolution, which also reads the hub's count of writes (the graph is made",
        "again when any write moved it). The 50 ms target holds only where /api/status itself",
        "stays well under it. Memory is the same after reading a history of 1,000 or 10,000",
        "commits: a page fetches only the commits within its reach.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--small", action="store_true", help="1,000 commits, 10,000 files")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--tag", default="", help="added to the result files' names")
    args = parser.parse_args()
    sizes = {"long": 10_000, "short": 1_000, "files": 100_000}
    if args.small:
        sizes = {"long": 1_000, "short": 100, "files": 10_000}
    with tempfile.TemporaryDirectory(prefix="assethub-api-bench-") as tmp:
        home, work = Path(tmp, "hub"), Path(tmp, "work")
        work.mkdir()
        load_start = os.getloadavg()[0]
        began = time.perf_counter()
        build_hub(home, sizes["long"], sizes["short"], sizes["files"])
        print(f"hub built in {time.perf_counter() - began:.1f} s", flush=True)
        latency: dict[str, dict[str, Any]] = {}
        for cache in (False, True):
            with jupyter_server(home, work, cache) as (base, pid):
                for name, urls in scenarios(base).items():
                    if cache and name.startswith("jupyter"):
                        name += " (again)"
                    elif not name.startswith("jupyter"):
                        name += ", cache on" if cache else ", cache off"
                    latency[name] = {}
                    for clients in (1, 32):
                        row = asyncio.run(load(urls, clients, args.requests))
                        latency[name][str(clients)] = row
                        print(name, clients, row, flush=True)
                server_rss = rss(pid)
        memory = {
            f"{sizes['short']:,}": memory_after_paging(home, work, SHORT),
            f"{sizes['long']:,}": memory_after_paging(home, work, LONG),
        }
    today = datetime.date.today().isoformat()
    results = {
        "date": today,
        "machine": machine(),
        "sizes": sizes,
        "requests": args.requests,
        "latency": latency,
        "server_rss_after_load": server_rss,
        "memory": memory,
        "load_average": {"start": load_start, "end": os.getloadavg()[0]},
    }
    stem = f"{today}-api-latency" + ("-small" if args.small else "")
    stem += f"-{args.tag}" if args.tag else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
