"""Asset Hub against DVC on the same generated data, in one run: ``python bench/run.py``.

Generates 20,000 files of 4 KiB in 100 folders and one 1 GiB file (``--small`` for a smoke
run), then, for each repetition and each tool in a fresh workspace, times the steps users
wait for (see ``pipelines.py``) and writes a Markdown table and a JSON record to
``bench/results/``. No timing is asserted anywhere: the table says whether each target was
met, and a machine-noise miss is for a human to judge, not for CI to fail on.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from datagen import (
    FULL,
    SMALL,
    Shape,
    apply_change,
    copy_tree,
    delete_large_files,
    fingerprint,
    generate_big_file,
    generate_small_files,
    set_aside,
)
from pipelines import Corpus, Pipeline, ToolRun, run_assethub, run_dvc, run_floors
from report import (
    INCREMENTAL_NOISE,
    INCREMENTAL_SLACK,
    MEMORY_BYTES_PER_FILE,
    as_json,
    build_rows,
    markdown_table,
    memory_scaling,
    memory_table,
    rows_for,
    run_json,
)
from timing import StepFailed, compile_sources, rss_floor

RESULTS = Path(__file__).resolve().parent / "results"
ToolSpec = tuple[
    Callable[[ToolRun, Corpus, Path, Sequence[str], dict[str, str]], Pipeline], list[str]
]
"""A tool's pipeline function and the command that starts the tool."""
INODE_QUARANTINE = 360.0
"""Seconds ext4 without a journal may keep skipping inodes freed by a mass deletion (60 s,
300 more while their inode table block is unwritten): see ``datagen.set_aside``."""
CLEANED = ".assethub-bench-cleaned"
"""A file beside the work folders holding when the last run finished deleting its own."""
LARGE_FILE = 1024**2
"""Files this big are deleted after each repetition; the rest waits for the end of the run
(see ``datagen.set_aside``)."""
TOOL_NAMES = {"dvc": "DVC", "assethub": "Asset Hub", "floor": "machine floor"}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions per step; the median is reported"
    )
    parser.add_argument(
        "--small", action="store_true", help="2,000 files and a 64 MiB file: a quick smoke run"
    )
    parser.add_argument("--seed", type=int, default=20261122, help="seed of the generated data")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder under which a fresh work folder is made (default: the system temp dir)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder afterwards")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument(
        "--name", default="", help="appended to the results' file names, to keep earlier ones"
    )
    return parser.parse_args(argv)


# -- the tools -------------------------------------------------------------------------------


def _executable(name: str, module: str) -> list[str]:
    """The console script next to this interpreter (so the venv's copy), else ``-m``."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    found = shutil.which(name)
    return [found] if found else [sys.executable, "-m", module]


def _dvc_version(dvc: list[str]) -> str:
    try:
        done = subprocess.run([*dvc, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        sys.exit("dvc is not installed here: run `make bench`, or `pip install dvc` in the venv.")
    return done.stdout.strip()


def _compile_assethub() -> None:
    """Byte-compile the Asset Hub this interpreter imports (see ``timing.compile_sources``)."""
    spec = importlib.util.find_spec("assethub_ext")
    if spec is not None and spec.submodule_search_locations:
        compile_sources(Path(spec.submodule_search_locations[0]))


def _assethub_version() -> str:
    try:
        return importlib.metadata.version("assethub-ext")
    except importlib.metadata.PackageNotFoundError:
        sys.exit("assethub-ext is not installed in this interpreter: run `make bench`.")


def _base_env() -> dict[str, str]:
    """The caller's environment minus anything that would point a tool at a real hub/repo."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ASSETHUB_HOME", "ASSETHUB_DB", "ASSETHUB_STORE", "ASSETHUB_USER"}
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        env[f"{key}_NAME"], env[f"{key}_EMAIL"] = "bench", "bench@example.invalid"
    return env


def _filesystem(path: Path) -> str:
    """The file system type holding ``path`` (reflinks and hard links depend on it)."""
    best, fstype = "", "unknown"
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                _, mount_point, kind, *_ = line.split()
                inside = str(path.resolve()).startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) > len(best):
                    best, fstype = mount_point, kind
    except OSError:
        pass
    return fstype


def _source_state() -> str:
    """The commit Asset Hub was measured at, and whether its sources had local edits."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "assethub_ext"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + local edits' if dirty else ''}"


def _machine(dvc_version: str, workdir: Path) -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dvc": dvc_version,
        "assethub": _assethub_version(),
        "assethub_source": _source_state(),
        "filesystem": _filesystem(workdir),
        "rss_floor": rss_floor(),
    }


# -- data ------------------------------------------------------------------------------------


def _build_corpus(root: Path, shape: Shape, seed: int) -> Corpus:
    """Generate everything once; each tool copies it into its own workspace."""
    started = time.perf_counter()
    data, memory, changed = (
        root / "data" / "data",
        root / "memory" / "data",
        root / "after" / "data",
    )
    generate_small_files(
        data, files=shape.files, folders=shape.folders, size=shape.file_size, seed=seed
    )
    generate_small_files(
        memory, files=shape.memory_files, folders=shape.folders, size=shape.file_size, seed=seed
    )
    big = root / "big" / "big.bin"
    generate_big_file(big, size=shape.big_size, seed=seed)
    copy_tree(data, changed)
    apply_change(changed, changed=shape.changed, added=shape.added, size=shape.file_size, seed=seed)
    _log(f"generated the data in {time.perf_counter() - started:.1f} s under {root}")
    return Corpus(
        data=data,
        big=big,
        memory_data=memory,
        changed_data=changed,
        expected=fingerprint(changed),
        files=shape.files,
        changed=shape.changed,
        added=shape.added,
        file_size=shape.file_size,
        seed=seed,
    )


# -- running ---------------------------------------------------------------------------------


def _wait_out_last_cleanup(cleaned: Path) -> None:
    """Start no sooner than ``INODE_QUARANTINE`` after the last run deleted its files, or its
    clean-up would slow every file creation of this run's first repetitions."""
    try:
        left = float(cleaned.read_text(encoding="utf-8")) + INODE_QUARANTINE - time.time()
    except (OSError, ValueError):
        return
    if left > 0:
        _log(f"waiting {left:.0f} s: the last run deleted its files too recently")
        time.sleep(min(left, INODE_QUARANTINE))


def _advance(run: ToolRun, steps: Pipeline) -> bool:
    """Run one tool up to its next timed step; False once it is done or a command failed."""
    try:
        next(steps)
    except StopIteration:
        return False
    except StepFailed as failed:
        run.error = {
            "command": failed.argv,
            "returncode": failed.returncode,
            "stdout": failed.stdout,
            "stderr": failed.stderr,
        }
        _log(f"  {run.tool}: FAILED: {' '.join(failed.argv)} (exit {failed.returncode})")
        _log("  stderr: " + failed.stderr.strip())
        return False
    return True


def _log_run(run: ToolRun) -> None:
    steps = ", ".join(f"{k} {s.seconds:.2f}" for k, s in run.samples.items())
    _log(f"  {run.tool}: {steps}")
    for problem in run.problems:
        _log(f"  {run.tool}: PROBLEM: {problem}")


def _repetition(
    order: list[str], corpus: Corpus, folder: Path, tools: dict[str, ToolSpec], env: dict[str, str]
) -> dict[str, ToolRun]:
    """Both tools, each in a fresh folder, step by step in turn.

    Interleaving (DVC's first add, then ours, then DVC's no-op add, ...) rather than one
    whole tool after the other: noise on a shared machine comes in bursts of seconds, and
    this way a burst lands on both tools' runs of about the same step.
    """
    runs, active = {}, []
    for tool in order:
        pipeline, exe = tools[tool]
        ws = folder / tool
        ws.mkdir(parents=True)
        runs[tool] = ToolRun(tool)
        active.append((runs[tool], pipeline(runs[tool], corpus, ws, exe, env)))
    while active:
        active = [(run, steps) for run, steps in active if _advance(run, steps)]
    for tool in order:
        _log_run(runs[tool])
    return runs


def _order(tools: list[str], rep: int) -> list[str]:
    """The order of the tools in repetition ``rep``: rotated, so each tool goes first, in the
    middle and last in turn, and reversed every other round of rotations, so no tool always
    follows the same one.

    Merely alternating first and last left the middle tool of three always right after the
    same other tool's step, inheriting whatever state that step left the machine in.
    """
    count = len(tools)
    base = tools if (rep // count) % 2 == 0 else tools[::-1]
    turn = rep % count
    return base[turn:] + base[:turn]


def _repetitions(
    repeat: int,
    corpus: Corpus,
    workdir: Path,
    tools: dict[str, ToolSpec],
    env: dict[str, str],
    keep: bool,
) -> dict[str, list[ToolRun]]:
    """Each tool in each place in turn (see ``_order``). A finished repetition's files are
    set aside, not deleted, until the end of the run (see ``datagen.set_aside``)."""
    runs: dict[str, list[ToolRun]] = {tool: [] for tool in tools}
    for rep in range(repeat):
        order = _order(list(tools), rep)
        _log(f"repetition {rep + 1}/{repeat} ({', then '.join(order)})")
        started = time.perf_counter()
        folder = workdir / f"rep{rep}"
        for tool, run in _repetition(order, corpus, folder, tools, env).items():
            runs[tool].append(run)
        if not keep:
            delete_large_files(folder, at_least=LARGE_FILE)
            set_aside(folder, workdir)
            os.sync()  # let the deletions' writeback finish before the next repetition starts
        _log(f"  repetition took {time.perf_counter() - started:.0f} s")
    return runs


# -- output ----------------------------------------------------------------------------------


def _link_report(runs: Sequence[ToolRun]) -> str:
    """What Asset Hub's link-mode checkout said it did (how many files linked, copied)."""
    said = next((r.outputs["checkout_link"] for r in runs if "checkout_link" in r.outputs), "")
    return said.rpartition(": ")[2] or "nothing (it failed)"


def _notes(shape: Shape, big_label: str, link_report: str) -> str:
    changed = shape.changed + shape.added
    return f"""
¹ Proportional: Asset Hub's incremental add may cost at most its re-add after a touch (a re-add
that compares files and finds nothing changed; the plain no-op re-add is answered by the
folder's stat stamp without comparing anything) plus
{INCREMENTAL_NOISE:.0%} for noise, plus {INCREMENTAL_SLACK:g}x the first add's per-file cost times
the {changed} files that changed ({shape.changed} rewritten, {shape.added} added, of {shape.files:,}).
² Each from a store filled by linking, holding the changed data: DVC with `cache.type hardlink`
in a repository of its own (filled by its linking `dvc add`); Asset Hub in a hub of its own
filled by `add --link --publish`, then `checkout --link hardlink`, which reported `{link_report}`.
The data folder is moved aside between the add and the checkout.
³ The spec asks for "a small constant per file" without a number; 2 KiB is our reading.
⁴ DVC with `cache.type hardlink` (it hashes, moves the file into its cache and links it
back); Asset Hub with `add --link` (it hard-links the file into the store, read-only, and
hashes it). The copied row is each tool's default.
⁵ The least the step needs on this machine, timed in the same run (`bench/floors.py`): for
status, Python starting, walking the folder and `lstat`-ing every file; for the first add,
Python starting, walking, reading and BLAKE3-hashing every file into one pack file (no
metadata, no locking, no crash safety); for checkouts, `cp -r` and `cp -al`; for the large
file, the faster of `cp` and `dd oflag=direct` (past the page cache), and `ln`. "Target allows" is DVC's time divided by the target ratio: a target
whose allowance is below the floor cannot be met by any tool on this machine.

Commands (each timed as one subprocess, start-up included, after an untimed `sync`):
DVC in a fresh `git init` + `dvc init` repository: `dvc add data` (first, no-op, after
one file's mtime was moved back a second with its bytes unchanged, incremental),
`dvc status`, `mv data ASIDE; dvc checkout`, `dvc add big/big.bin` ({big_label}) in two other
repositories (default cache type; `hardlink`).
Asset Hub with a fresh `ASSETHUB_HOME`: `assethub add --publish {{asset}} data` (first add),
`assethub add {{asset}} data` (no-op, after the same touch, incremental), `assethub publish {{asset}}`,
`assethub status {{asset}} data`, `assethub checkout {{asset}}:v2 DEST --link copy`,
`assethub add --link --publish {{asset}} data; mv data ASIDE; assethub checkout {{asset}}:v1 DEST
--link hardlink` in a second hub, `assethub add [--link] {{asset}} big/big.bin` in two other hubs. The change between them rewrites
{shape.changed} files in place and adds {shape.added} new ones. Nothing with many files is
deleted before the end of the run: on ext4 without a journal, files created within minutes
of a mass deletion cost several times more to create (`bench/README.md`).
"""


def _problems(runs: dict[str, list[ToolRun]]) -> str:
    lines = []
    for tool, tool_runs in runs.items():
        for rep, run in enumerate(tool_runs, 1):
            lines += [f"- {TOOL_NAMES[tool]}, repetition {rep}: {p}" for p in run.problems]
            if run.error:
                command = " ".join(str(a) for a in run.error["command"])
                lines.append(
                    f"- {TOOL_NAMES[tool]}, repetition {rep}: `{command}` exited "
                    f"{run.error['returncode']}:\n\n```\n{str(run.error['stderr']).strip()}\n```"
                )
    if not lines:
        return ""
    return "\n## Problems and failures\n\n" + "\n".join(lines) + "\n"


def _write_results(
    out: Path, stem: str, markdown: str, record: dict[str, Any]
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{stem}.md", out / f"{stem}.json"
    md.write_text(markdown, encoding="utf-8")
    js.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return md, js


def _report(
    args: argparse.Namespace,
    shape: Shape,
    machine: dict[str, Any],
    runs: dict[str, list[ToolRun]],
    total_seconds: float,
) -> str:
    """Write the Markdown and JSON files; return the Markdown for printing."""
    big_label = (
        f"{shape.big_size / 1024**3:g} GiB"
        if shape.big_size >= 1024**3
        else (f"{shape.big_size / 1024**2:g} MiB")
    )
    built = build_rows(
        rows_for(shape.files, big_label),
        runs["dvc"],
        runs["assethub"],
        runs["floor"],
        shape.changed + shape.added,
        shape.files,
    )
    scaling = {
        TOOL_NAMES[t]: memory_scaling(runs[t], shape.memory_files, shape.files)
        for t in ("dvc", "assethub")
    }
    today = datetime.date.today().isoformat()
    size = "small" if args.small else "full"
    markdown = (
        f"# Asset Hub vs DVC, {today} ({size} size)\n\n"
        f"Machine: {machine['hostname']}, {machine['cpus']} CPUs, {machine['platform']}, "
        f"{machine['filesystem']}; Python {machine['python']}; DVC {machine['dvc']}; "
        f"Asset Hub {machine['assethub']} ({machine['assethub_source']}).\n"
        f"Data: {shape.files:,} files of {shape.file_size // 1024} KiB in {shape.folders} folders; "
        f"one {big_label} file. Median of {args.repeat} repetition(s); "
        f"ratio = DVC time / Asset Hub time (higher is better for Asset Hub). "
        f"Peak RSS is the command's own, measured by `os.wait4`; a command doing nothing "
        f"reads {machine['rss_floor'] / 1024**2:.0f} MiB. Whole run: {total_seconds / 60:.1f} min.\n\n"
        + markdown_table(built)
        + "\n## Peak memory against the number of files (first add)\n\n"
        + (memory_table(scaling) if any(scaling.values()) else "failed\n")
        + _notes(shape, big_label, _link_report(runs["assethub"]))
        + _problems(runs)
    )
    record = {
        "date": today,
        "size": size,
        "machine": machine,
        "shape": shape.__dict__,
        "repeat": args.repeat,
        "seed": args.seed,
        "total_seconds": total_seconds,
        "targets": {
            "incremental_slack": INCREMENTAL_SLACK,
            "incremental_noise": INCREMENTAL_NOISE,
            "memory_bytes_per_file": MEMORY_BYTES_PER_FILE,
        },
        "rows": as_json(built),
        "memory_scaling": scaling,
        "runs": {tool: [run_json(r) for r in tool_runs] for tool, tool_runs in runs.items()},
    }
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in machine["hostname"])
    stem = f"{today}-{host}-{machine['cpus']}cpu-store-vs-dvc" + ("-small" if args.small else "")
    stem += "".join(c if c.isalnum() or c in "-_" else "-" for c in f"-{args.name}".rstrip("-"))
    md, js = _write_results(args.out, stem, markdown, record)
    _log(f"wrote {md} and {js}")
    return markdown


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 1 if any command failed (results are still written), else 0, targets or not."""
    args = _parse_args(argv)
    shape = SMALL if args.small else FULL
    dvc, assethub = _executable("dvc", "dvc"), _executable("assethub", "assethub_ext")
    dvc_version = _dvc_version(dvc)
    _compile_assethub()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="assethub-bench-", dir=args.workdir))
    _wait_out_last_cleanup(workdir.parent / CLEANED)
    machine = _machine(dvc_version, workdir)
    _log(f"machine: {machine}")
    started = time.perf_counter()
    try:
        corpus = _build_corpus(workdir / "corpus", shape, args.seed)
        tools: dict[str, ToolSpec] = {
            "dvc": (run_dvc, dvc),
            "assethub": (run_assethub, assethub),
            "floor": (run_floors, [sys.executable, str(Path(__file__).with_name("floors.py"))]),
        }
        runs = _repetitions(args.repeat, corpus, workdir, tools, _base_env(), args.keep)
    finally:
        if not args.keep:
            _log(f"deleting {workdir}")
            shutil.rmtree(workdir, ignore_errors=True)
            (workdir.parent / CLEANED).write_text(f"{time.time()}\n", encoding="utf-8")
    print(_report(args, shape, machine, runs, time.perf_counter() - started))
    return 1 if any(r.error for tool_runs in runs.values() for r in tool_runs) else 0


if __name__ == "__main__":
    sys.exit(main())
