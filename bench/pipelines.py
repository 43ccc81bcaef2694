"""The same sequence of user actions, once with DVC and once with Asset Hub.

Each run works in a fresh folder of its own (a new git+DVC repository, or a new
``ASSETHUB_HOME``), so no run benefits from a cache warmed by an earlier one. Set-up
(copying the data in, ``git init``, ``dvc init``, ``assethub create``) is not timed; every
step a user would wait for is, as one whole subprocess.

Step keys (shared by both tools where they mean the same thing):

``first_add``       add the small-files folder to an empty store
``first_publish``   Asset Hub only: freeze the draft as v1
``noop_add``        add the same, unchanged folder again
``touch_add``       add it again after one file's mtime moved, its bytes unchanged: nothing
                    changed, found by comparing files (Asset Hub's plain no-op re-add is
                    answered by the folder's stat stamp and compares none)
``status``          what changed since the add (nothing)
``status_changed``  the same after the change (informational)
``incr_add``        add after 1% of files were rewritten and some added
``incr_publish``    Asset Hub only: freeze as v2
``checkout_copy``   materialise the latest version into an empty folder, copying
``checkout_link``   the same with links, from a store filled by linking (DVC: a repository
                    with ``cache.type hardlink``; Asset Hub: a hub filled by ``add --link``)
``big_add``         add one large file to an empty store
``mem_add``         first add of the smaller corpus (memory-scaling check)
``link_add``        the add that fills that repository or hub (informational)
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datagen import apply_change, copy_file, copy_tree, fingerprint, set_aside, touch_one
from timing import Sample, run_quiet, run_timed

SMALL_ASSET = "bench/dataset/bench/small"
BIG_ASSET = "bench/dataset/bench/big"
MEM_ASSET = "bench/dataset/bench/scaling"
CHECKOUT_MARKER = ".assethub-checkout"
HASHED = re.compile(r"([\d.]+) (B|KiB|MiB|GiB) hashed")
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}

Pipeline = Iterator[None]
"""A tool's run as a generator that pauses after every timed step (see ``_Steps.time``)."""


@dataclass(frozen=True)
class Corpus:
    """Generated once per benchmark run; each tool copies what it needs."""

    data: Path
    """Pristine small files, in a folder named ``data``."""
    big: Path
    """The large file, ``big/big.bin``."""
    memory_data: Path
    """The smaller corpus for the memory-scaling check, also named ``data``."""
    changed_data: Path
    """``data`` after the change: what a checkout of the latest version must reproduce."""
    expected: dict[str, str]
    """Fingerprint of ``changed_data``."""
    files: int
    changed: int
    added: int
    file_size: int
    seed: int


@dataclass
class ToolRun:
    """One tool's samples for one repetition, plus anything that looked wrong."""

    tool: str
    samples: dict[str, Sample] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None


class _Steps:
    """Runs the timed and untimed commands of one run in one folder and environment."""

    def __init__(self, run: ToolRun, cwd: Path, env: Mapping[str, str]) -> None:
        self.run, self.cwd, self.env = run, cwd, env

    def time(
        self, key: str, argv: Sequence[str], cwd: Path | None = None
    ) -> Generator[None, None, Sample]:
        """Run one timed step, then pause the pipeline (``sample = yield from ...``) so the
        other tool's next step runs before this one's: noise on a shared machine comes in
        bursts, and interleaving spreads each burst over both tools."""
        sample = run_timed(argv, cwd=cwd or self.cwd, env=self.env)
        self.run.samples[key] = sample
        self.run.outputs[key] = sample.stdout.strip()[-2000:]
        yield
        return sample

    def quiet(self, argv: Sequence[str], cwd: Path | None = None) -> str:
        return run_quiet(argv, cwd=cwd or self.cwd, env=self.env)

    def expect(self, condition: bool, problem: str) -> None:
        """Sanity checks: recorded, never fatal, so one surprise does not hide the rest."""
        if not condition:
            self.run.problems.append(problem)


def _check_checkout(steps: _Steps, key: str, dest: Path, corpus: Corpus) -> None:
    found = fingerprint(dest, ignore=frozenset({CHECKOUT_MARKER}))
    if found == corpus.expected:
        return
    missing = len(corpus.expected.keys() - found.keys())
    extra = len(found.keys() - corpus.expected.keys())
    wrong = sum(1 for k in found.keys() & corpus.expected.keys() if found[k] != corpus.expected[k])
    steps.expect(False, f"{key}: {missing} files missing, {extra} extra, {wrong} with wrong bytes")


def _check_hashed(steps: _Steps, out: str, changed_bytes: int) -> None:
    """Proportional in work, not only in time: the add should read about the changed bytes.

    Uses the "N MiB hashed" that ``assethub add`` prints; skipped if it prints no such figure.
    """
    said = HASHED.search(out)
    if said is None:
        return
    hashed = float(said.group(1)) * UNITS[said.group(2)]
    steps.expect(
        hashed <= 2 * changed_bytes,
        f"incremental add read {said.group(0)}; the change was {changed_bytes / 1024**2:.1f} MiB",
    )


def _change(ws_data: Path, corpus: Corpus) -> None:
    apply_change(
        ws_data,
        changed=corpus.changed,
        added=corpus.added,
        size=corpus.file_size,
        seed=corpus.seed,
    )


# -- Asset Hub -------------------------------------------------------------------------------


def _assethub_env(base: Mapping[str, str], home: Path) -> dict[str, str]:
    return {**base, "ASSETHUB_HOME": str(home), "ASSETHUB_USER": "bench"}


def run_assethub(
    run: ToolRun, corpus: Corpus, ws: Path, exe: Sequence[str], env: Mapping[str, str]
) -> Pipeline:
    """First add + publish, no-op add, status, change, incremental add, checkouts, 1 GiB add.

    A generator: each ``next`` runs up to and including one timed step. Samples land in
    ``run`` as they are taken, so a failing command keeps the ones before it.
    """
    ah = list(exe)
    steps = _Steps(run, ws, _assethub_env(env, ws / "hub"))
    copy_tree(corpus.data, ws / "data")
    steps.quiet([*ah, "create", SMALL_ASSET])
    first = [*ah, "add", "--publish", SMALL_ASSET, "data"]
    out = (yield from steps.time("first_add", first)).stdout
    steps.expect(
        f"{corpus.files} added" in out and f"{SMALL_ASSET}:v1" in out, f"first add said: {out}"
    )
    out = (yield from steps.time("noop_add", [*ah, "add", SMALL_ASSET, "data"])).stdout
    steps.expect("no changes" in out, f"no-op add said: {out.strip()}")
    out = (yield from steps.time("status", [*ah, "status", SMALL_ASSET, "data"])).stdout
    steps.expect(out.strip() == "up to date", f"status said: {out.strip()[:200]}")
    touch_one(ws / "data")
    out = (yield from steps.time("touch_add", [*ah, "add", SMALL_ASSET, "data"])).stdout
    steps.expect("no changes" in out and " 0 B hashed" not in out, f"touched add said: {out}")
    _change(ws / "data", corpus)
    out = (yield from steps.time("status_changed", [*ah, "status", SMALL_ASSET, "data"])).stdout
    reported = len(out.strip().splitlines())
    steps.expect(
        reported == corpus.changed + corpus.added,
        f"status after the change listed {reported} files, expected {corpus.changed + corpus.added}",
    )
    out = (yield from steps.time("incr_add", [*ah, "add", SMALL_ASSET, "data"])).stdout
    steps.expect(
        f"{corpus.changed} changed" in out and f"{corpus.added} added" in out,
        f"incremental add said: {out.strip()}",
    )
    _check_hashed(steps, out, (corpus.changed + corpus.added) * corpus.file_size)
    ref = (yield from steps.time("incr_publish", [*ah, "publish", SMALL_ASSET])).stdout.strip()
    dest = ws / "checkout_copy"
    yield from steps.time("checkout_copy", [*ah, "checkout", ref, str(dest), "--link", "copy"])
    _check_checkout(steps, "checkout_copy", dest / "data", corpus)
    yield from _assethub_link_checkout(corpus, ws, ah, env, run)
    yield from _assethub_big_add(corpus, ws, ah, env, run, link=False)
    yield from _assethub_big_add(corpus, ws, ah, env, run, link=True)
    yield from _assethub_memory_add(corpus, ws, ah, env, run)


def _assethub_link_checkout(
    corpus: Corpus, ws: Path, ah: list[str], env: Mapping[str, str], run: ToolRun
) -> Pipeline:
    """A hub of its own filled by ``add --link``, as DVC's ``cache.type hardlink`` repository
    is filled by its linking ``dvc add``; the folder is then removed and checked out."""
    folder = ws / "link-run"
    copy_tree(corpus.changed_data, folder / "data")
    steps = _Steps(run, folder, _assethub_env(env, folder / "hub"))
    steps.quiet([*ah, "create", SMALL_ASSET])
    add = [*ah, "add", "--link", "--publish", SMALL_ASSET, "data"]
    ref = (yield from steps.time("link_add", add)).stdout.strip().splitlines()[-1]
    set_aside(folder / "data", ws)
    checkout = [*ah, "checkout", ref, str(folder / "out"), "--link", "hardlink"]
    yield from steps.time("checkout_link", checkout)
    _check_checkout(steps, "checkout_link", folder / "out" / "data", corpus)


def _assethub_big_add(
    corpus: Corpus, ws: Path, ah: list[str], env: Mapping[str, str], run: ToolRun, *, link: bool
) -> Pipeline:
    """In a hub of its own, so the small files' packs and index play no part.

    ``link``: ``add --link`` takes the file by hard link (made read-only), as DVC's
    ``cache.type hardlink`` does; otherwise it is copied into the store.
    """
    key = "big_add_link" if link else "big_add"
    folder = ws / f"{key}-run"
    copy_file(corpus.big, folder / "big" / "big.bin")
    steps = _Steps(run, folder, _assethub_env(env, folder / "hub"))
    steps.quiet([*ah, "create", BIG_ASSET])
    flags = ["--link"] if link else []
    out = (yield from steps.time(key, [*ah, "add", *flags, BIG_ASSET, "big/big.bin"])).stdout
    steps.expect(not link or "1 linked" in out, f"add --link said: {out.strip()}")


def _assethub_memory_add(
    corpus: Corpus, ws: Path, ah: list[str], env: Mapping[str, str], run: ToolRun
) -> Pipeline:
    folder = ws / "mem-run"
    copy_tree(corpus.memory_data, folder / "data")
    steps = _Steps(run, folder, _assethub_env(env, folder / "hub"))
    steps.quiet([*ah, "create", MEM_ASSET])
    yield from steps.time("mem_add", [*ah, "add", "--publish", MEM_ASSET, "data"])


# -- the machine's floors ----------------------------------------------------------------------


def run_floors(
    run: ToolRun, corpus: Corpus, ws: Path, exe: Sequence[str], env: Mapping[str, str]
) -> Pipeline:
    """The least each step needs on this machine (see ``floors.py``), timed like a tool."""
    floors = list(exe)
    steps = _Steps(run, ws, env)
    copy_tree(corpus.data, ws / "data")
    yield from steps.time("first_add", [*floors, "pack", "data", str(ws / "pack")])
    yield from steps.time("status", [*floors, "status", "data"])
    yield from steps.time("checkout_copy", ["cp", "-r", str(corpus.changed_data), "copy"])
    yield from steps.time("checkout_link", ["cp", "-al", "data", "links"])
    copy_file(corpus.big, ws / "big" / "big.bin")
    cached = yield from steps.time("big_add_cached", ["cp", "big/big.bin", "big.copy"])
    direct = ["dd", "if=big/big.bin", "of=big.direct", "bs=16M", "oflag=direct", "status=none"]
    uncached = yield from steps.time("big_add_direct", direct)
    run.samples["big_add"] = min(cached, uncached, key=lambda sample: sample.seconds)
    yield from steps.time("big_add_link", ["ln", "big/big.bin", "big.link"])


# -- DVC -------------------------------------------------------------------------------------


def _dvc_repo(steps: _Steps, dvc: list[str], repo: Path, cache_type: str | None) -> None:
    """``git init`` + ``dvc init``, with DVC's update check off (no network, no noise)."""
    repo.mkdir(parents=True)
    steps.quiet(["git", "init", "-q"], cwd=repo)
    steps.quiet([*dvc, "init", "-q"], cwd=repo)
    steps.quiet([*dvc, "config", "core.check_update", "false"], cwd=repo)
    if cache_type:
        steps.quiet([*dvc, "config", "cache.type", cache_type], cwd=repo)


def _dvc_env(base: Mapping[str, str], ws: Path) -> dict[str, str]:
    """DVC keeps its state database in a site cache; keep it inside the throwaway folder."""
    return {**base, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(ws / "dvc-site-cache")}


def run_dvc(
    run: ToolRun, corpus: Corpus, ws: Path, exe: Sequence[str], env: Mapping[str, str]
) -> Pipeline:
    """The DVC equivalent of ``run_assethub``, as the DVC documentation tells users to work."""
    dvc = list(exe)
    repo = ws / "repo"
    steps = _Steps(run, repo, _dvc_env(env, ws))
    _dvc_repo(steps, dvc, repo, None)
    copy_tree(corpus.data, repo / "data")
    yield from steps.time("first_add", [*dvc, "add", "data"])
    yield from steps.time("noop_add", [*dvc, "add", "data"])
    out = (yield from steps.time("status", [*dvc, "status"])).stdout
    steps.expect("up to date" in out, f"dvc status said: {out.strip()[:200]}")
    touch_one(repo / "data")
    yield from steps.time("touch_add", [*dvc, "add", "data"])
    _change(repo / "data", corpus)
    out = (yield from steps.time("status_changed", [*dvc, "status"])).stdout
    steps.expect("modified" in out, f"dvc status after the change said: {out.strip()[:200]}")
    yield from steps.time("incr_add", [*dvc, "add", "data"])
    set_aside(repo / "data", ws)
    yield from steps.time("checkout_copy", [*dvc, "checkout"])
    _check_checkout(steps, "checkout_copy", repo / "data", corpus)
    yield from _dvc_link_checkout(corpus, ws, dvc, steps)
    yield from _dvc_big_add(corpus, ws, dvc, steps, None)
    yield from _dvc_big_add(corpus, ws, dvc, steps, "hardlink")
    yield from _dvc_memory_add(corpus, ws, dvc, steps)


def _dvc_link_checkout(corpus: Corpus, ws: Path, dvc: list[str], steps: _Steps) -> Pipeline:
    """A second repository with ``cache.type hardlink``, holding the changed data."""
    repo = ws / "repo-hardlink"
    _dvc_repo(steps, dvc, repo, "hardlink")
    copy_tree(corpus.changed_data, repo / "data")
    yield from steps.time("link_add", [*dvc, "add", "data"], cwd=repo)
    set_aside(repo / "data", ws)
    yield from steps.time("checkout_link", [*dvc, "checkout"], cwd=repo)
    _check_checkout(steps, "checkout_link", repo / "data", corpus)


def _dvc_big_add(
    corpus: Corpus, ws: Path, dvc: list[str], steps: _Steps, cache_type: str | None
) -> Pipeline:
    key = "big_add_link" if cache_type == "hardlink" else "big_add"
    repo = ws / f"repo-{key}"
    _dvc_repo(steps, dvc, repo, cache_type)
    copy_file(corpus.big, repo / "big" / "big.bin")
    yield from steps.time(key, [*dvc, "add", "big/big.bin"], cwd=repo)


def _dvc_memory_add(corpus: Corpus, ws: Path, dvc: list[str], steps: _Steps) -> Pipeline:
    repo = ws / "repo-scaling"
    _dvc_repo(steps, dvc, repo, None)
    copy_tree(corpus.memory_data, repo / "data")
    yield from steps.time("mem_add", [*dvc, "add", "data"], cwd=repo)
