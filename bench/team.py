"""The team hub: push and pull against ``dvc push`` / ``dvc pull``, and concurrent commits.

One moto S3 server on loopback (in this process) serves both tools; each gets its own
bucket. Every timed step is a whole subprocess (start-up included, ``timing.run_timed``),
the tools alternate which goes first, and the table shows medians as DVC / Asset Hub ratios.

- **push, first**: ``assethub push team`` of a published dataset (SQLite + S3 team hub) vs
  ``dvc push`` of the same files.
- **pull, first**: into a fresh hub, ``assethub pull team`` plus ``assethub checkout`` (so
  the files land in a folder, as ``dvc pull`` leaves them) vs ``dvc pull`` into a fresh clone.
- **incremental**: 1% of the files rewritten, added and published (untimed), then push and
  pull again.
- **one large file**: the same push and pull of one ``--big-mib`` file (1 GiB by default) of
  random bytes, in a fresh pair of hubs and DVC repositories.
- **commits, 8 writers**: eight processes each committing ``--commits`` small commits to a
  model of their own, on PostgreSQL (a throwaway cluster from ``tests/servers.py``) and on
  SQLite; commits per second over the whole run.

    python bench/team.py [--files 20000] [--repeat 3] [--big-mib 1024] [--small]
                         [--out bench/results] [--name NAME]
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import S3_ENV, PostgresServer, S3Server  # noqa: E402
from timing import run_quiet, run_timed  # noqa: E402

BIN = Path(sys.executable).parent
Step = Callable[[], None]
ASSET = "bench/dataset/team/data"
WRITER = r"""
import sys, os, tempfile
from assethub_ext import Hub
home, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Hub(home, user="bench") as hub:
    hub.create(model)
    for i in range(n):
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "w.txt"), "w") as f:
            f.write(f"{model} {i}")
        hub.commit(model + ":main", folder, message=str(i))
"""


def make_files(root: Path, count: int, rng: random.Random) -> None:
    for i in range(count):
        target = root / f"d{i % 100:03}" / f"f{i:06}.bin"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rng.randbytes(4096))


def change_one_percent(root: Path, count: int, rng: random.Random) -> None:
    for i in rng.sample(range(count), max(1, count // 100)):
        (root / f"d{i % 100:03}" / f"f{i:06}.bin").write_bytes(rng.randbytes(4096))


class Tools:
    """Both tools' folders for one repetition, and how to run each step."""

    def __init__(self, work: Path, s3: S3Server, data: Path, rep: int) -> None:
        self.work, self.s3, self.data = work, s3, data
        self.env = {**os.environ, **s3.env, "PATH": f"{BIN}:{os.environ['PATH']}"}
        self.ah_bucket, self.dvc_bucket = s3.bucket(), s3.bucket()
        self.team_db = f"sqlite:///{work / 'team.sqlite'}"
        self.team_store = f"s3://{self.ah_bucket}/hub"
        self.samples: dict[str, float] = {}

    def ah(self, name: str) -> dict[str, str]:
        return {**self.env, "ASSETHUB_HOME": str(self.work / name), "ASSETHUB_USER": "bench"}

    def quiet(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        run_quiet(argv, cwd=cwd, env=env)

    def timed(self, key: str, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.samples[key] = self.samples.get(key, 0.0) + run_timed(argv, cwd=cwd, env=env).seconds

    # -- Asset Hub ---------------------------------------------------------------------------
    def ah_setup(self) -> None:
        team = {
            **self.ah("team-home"),
            "ASSETHUB_DB": self.team_db,
            "ASSETHUB_STORE": self.team_store,
        }
        self.quiet([str(BIN / "assethub"), "init"], self.work, team)
        for home in ("ah-a", "ah-b"):
            self.quiet([str(BIN / "assethub"), "init"], self.work, self.ah(home))
            self.quiet(
                [
                    str(BIN / "assethub"),
                    "remote",
                    "add",
                    "team",
                    "--db",
                    self.team_db,
                    "--store",
                    self.team_store,
                ],
                self.work,
                self.ah(home),
            )
        self.ah_publish()

    def ah_publish(self) -> None:
        env = self.ah("ah-a")
        if not (self.work / "ah-a" / "created").exists():
            self.quiet([str(BIN / "assethub"), "create", ASSET], self.work, env)
            (self.work / "ah-a" / "created").touch()
        self.quiet([str(BIN / "assethub"), "add", ASSET, str(self.data)], self.work, env)
        self.quiet([str(BIN / "assethub"), "publish", ASSET], self.work, env)

    def ah_push(self, key: str) -> None:
        self.timed(key, [str(BIN / "assethub"), "push", "team"], self.work, self.ah("ah-a"))

    def ah_pull(self, key: str, version: str) -> None:
        env = self.ah("ah-b")
        self.timed(key, [str(BIN / "assethub"), "pull", "team"], self.work, env)
        dest = str(self.work / "ah-b-data")
        checkout = [str(BIN / "assethub"), "checkout", f"{ASSET}:{version}", dest, "--link", "copy"]
        self.timed(key, checkout, self.work, env)

    # -- DVC ---------------------------------------------------------------------------------
    def dvc_setup(self) -> None:
        for name in ("dvc-a", "dvc-b"):
            repo = self.work / name
            repo.mkdir()
            self.quiet(["git", "init", "-q"], repo, self.env)
            self.quiet([str(BIN / "dvc"), "init", "-q"], repo, self.env)
            self.quiet(
                [str(BIN / "dvc"), "config", "cache.dir", str(repo / "cache")], repo, self.env
            )
            remote = ["remote", "add", "-d", "s3", f"s3://{self.dvc_bucket}/dvc"]
            self.quiet([str(BIN / "dvc"), *remote], repo, self.env)
            endpoint = ["remote", "modify", "s3", "endpointurl", self.s3.endpoint]
            self.quiet([str(BIN / "dvc"), *endpoint], repo, self.env)
        self.dvc_add()

    def dvc_add(self) -> None:
        repo = self.work / "dvc-a"
        shutil.rmtree(repo / "data", ignore_errors=True)
        shutil.copytree(self.data, repo / "data")
        self.quiet([str(BIN / "dvc"), "add", "data"], repo, self.env)

    def dvc_push(self, key: str) -> None:
        self.timed(key, [str(BIN / "dvc"), "push"], self.work / "dvc-a", self.env)

    def dvc_pull(self, key: str) -> None:
        shutil.copy(self.work / "dvc-a" / "data.dvc", self.work / "dvc-b" / "data.dvc")
        self.timed(key, [str(BIN / "dvc"), "pull"], self.work / "dvc-b", self.env)


def alternate(pairs: list[tuple[Step, Step]], ours_first: bool) -> None:
    """Run each (Asset Hub, DVC) pair of steps, in the order this repetition's parity says."""
    for ours, theirs in pairs:
        for step in (ours, theirs) if ours_first else (theirs, ours):
            step()


def push_pull(tools: Tools, phase: str, version: str) -> list[tuple[Step, Step]]:
    """The push pair then the pull pair of one phase (``first``, ``incr``, ``big``)."""
    return [
        (lambda: tools.ah_push(f"ah_push_{phase}"), lambda: tools.dvc_push(f"dvc_push_{phase}")),
        (
            lambda: tools.ah_pull(f"ah_pull_{phase}", version),
            lambda: tools.dvc_pull(f"dvc_pull_{phase}"),
        ),
    ]


def transfer_round(work: Path, s3: S3Server, files: int, rep: int, seed: int) -> dict[str, float]:
    """One repetition of both tools: first push, first pull, 1% change, push, pull."""
    rng = random.Random(seed + rep)
    data = work / "data"
    make_files(data, files, rng)
    tools = Tools(work, s3, data, rep)
    tools.ah_setup()
    tools.dvc_setup()
    alternate(push_pull(tools, "first", "v1"), rep % 2 == 0)
    change_one_percent(data, files, rng)
    tools.ah_publish()
    tools.dvc_add()
    alternate(push_pull(tools, "incr", "v2"), rep % 2 == 0)
    return tools.samples


def big_round(work: Path, s3: S3Server, size: int, rep: int) -> dict[str, float]:
    """One repetition with a single large file: push, then pull into a fresh hub / clone."""
    data = work / "data"
    data.mkdir()
    with open(data / "big.bin", "wb") as out:
        for _ in range(0, size, 64 << 20):
            out.write(os.urandom(64 << 20))
    tools = Tools(work, s3, data, rep)
    tools.ah_setup()
    tools.dvc_setup()
    alternate(push_pull(tools, "big", "v1"), rep % 2 == 0)
    return tools.samples


def commit_throughput(work: Path, db_url: str | None, writers: int, commits: int) -> float:
    """Commits per second with ``writers`` processes committing to models of their own."""
    home = work / "hub"
    env = {**os.environ, "ASSETHUB_USER": "bench"}
    env.pop("ASSETHUB_DB", None)
    if db_url:
        env["ASSETHUB_DB"] = db_url
    script = work / "writer.py"
    script.write_text(WRITER)
    subprocess.run(
        [sys.executable, "-m", "assethub_ext", "init"],
        env={**env, "ASSETHUB_HOME": str(home)},
        check=True,
        capture_output=True,
    )
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(home), f"bench/model/w/m{i}", str(commits)], env=env
        )
        for i in range(writers)
    ]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("a writer failed")
    return writers * commits / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--commits", type=int, default=25, help="per writer")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--big-mib", type=int, default=1024, help="the large file's size")
    parser.add_argument("--small", action="store_true", help="2,000 files, 1 repetition")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument(
        "--name", default="", help="appended to the results' file names, to keep earlier ones"
    )
    args = parser.parse_args()
    if args.small:
        args.files, args.repeat, args.commits, args.big_mib = 2_000, 1, 10, 64
    for name, value in S3_ENV.items():
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log
    s3 = S3Server()
    s3.start()
    samples: list[dict[str, float]] = []
    throughput: dict[str, float] = {}
    try:
        for rep in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="assethub-team-bench-") as work:
                sample = transfer_round(Path(work), s3, args.files, rep, args.seed)
            with tempfile.TemporaryDirectory(prefix="assethub-team-bench-") as work:
                sample.update(big_round(Path(work), s3, args.big_mib << 20, rep))
            samples.append(sample)
        pg = PostgresServer()
        pg.start()
        try:
            for label, url in (("sqlite", None), ("postgresql", pg.database())):
                with tempfile.TemporaryDirectory(prefix="assethub-commit-bench-") as work:
                    throughput[label] = commit_throughput(
                        Path(work), url, args.writers, args.commits
                    )
        finally:
            pg.stop()
    finally:
        s3.stop()
    report(args, samples, throughput)


def report(
    args: argparse.Namespace, samples: list[dict[str, float]], throughput: dict[str, float]
) -> None:
    median = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    dvc = subprocess.run(
        [str(BIN / "dvc"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    today = datetime.date.today().isoformat()
    machine = f"{platform.node()}-{os.cpu_count()}cpu"
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"# Team hub: push/pull vs DVC {dvc}, commits on PostgreSQL vs SQLite ({today}, {machine})",
        "",
        f"{args.files:,} files of 4 KiB (and, apart, one file of {args.big_mib:,} MiB), moto S3 on loopback for both tools; median of "
        f"{args.repeat} run(s); each step a whole subprocess. Pull is `assethub pull` + "
        "`assethub checkout` against `dvc pull` (both end with the files in a folder). "
        "Ratio = DVC / Asset Hub (above 1: Asset Hub is faster). "
        f"Load average at the end (1/5/15 min): {load}.",
        "",
        "| step | DVC (s) | Asset Hub (s) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for step, label in (
        ("push_first", "push, first"),
        ("pull_first", "pull, first"),
        ("push_incr", "push, 1% changed"),
        ("pull_incr", "pull, 1% changed"),
        ("push_big", f"push, one {args.big_mib:,} MiB file"),
        ("pull_big", f"pull, one {args.big_mib:,} MiB file"),
    ):
        theirs, ours = median[f"dvc_{step}"], median[f"ah_{step}"]
        lines.append(f"| {label} | {theirs:.2f} | {ours:.2f} | {theirs / ours:.2f}x |")
    lines += [
        "",
        f"Commit throughput, {args.writers} writer processes x {args.commits} commits "
        "(each to a model of its own, local object store):",
        "",
        "| database | commits/s | vs SQLite |",
        "|---|---:|---:|",
    ]
    for label, rate in throughput.items():
        lines.append(f"| {label} | {rate:.1f} | {rate / throughput['sqlite']:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in args.name)
    suffix = ("-small" if args.small else "") + (f"-{name}" if name else "")
    stem = Path(args.out) / f"{today}-{machine}-team{suffix}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(text)
    record: dict[str, Any] = {"samples": samples, "median": median, "throughput": throughput}
    record.update(
        files=args.files,
        big_mib=args.big_mib,
        load=load,
        repeat=args.repeat,
        dvc=dvc,
        machine=machine,
        date=today,
    )
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
