"""SIGKILL at seeded random points of add -> publish -> commit.

A separate process runs the three steps through the Python API and is killed with SIGKILL
after a random delay (spread over the measured length of an uninterrupted run). Whatever
the moment: ``fsck`` finds no problem (stray files allowed), the draft, the version and
the branch are each in their old or their new state, never half of each, a step that
reported success survived, and retrying the same steps ends in the expected state.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import read_files, subprocess_env, write_files

from assethub_ext import Hub
from assethub_ext.core.errors import Conflict
from assethub_ext.core.names import parse_asset_path

DATASET = "alice/dataset/f/d"
MODEL = "alice/model/f/m"
SMALL_FILES = 2000
KILL_POINTS = 10
SEED = 20261122

DRIVER = r"""
import sys
from assethub_ext import Hub

home, src, model_src, dataset, model = sys.argv[1:6]
hub = Hub(home, user="alice")
hub.meta, hub.objects, hub.index  # open everything before the clock starts
print("ready", flush=True)
hub.add(dataset, [src])
print("added", flush=True)
hub.publish(dataset, "first")
print("published", flush=True)
hub.commit(f"{model}:main", model_src, message="trained", params={"lr": 0.1})
print("committed", flush=True)
hub.close()
"""


@dataclass
class Reference:
    base: Path  # a hub with the empty dataset and the model's first commit
    src: Path
    model_src: Path
    driver: Path
    duration: float  # seconds from "ready" to "committed", uninterrupted
    empty_tree: str
    draft_tree: str  # the draft (and v1) after the add
    model_tree: str
    first_commit: str  # the model's head before the run
    src_files: dict[str, bytes]  # what a checkout of v1 must hold
    model_files: dict[str, bytes]


def _launch(ref: Reference, home: Path) -> subprocess.Popen[str]:
    env = subprocess_env()
    return subprocess.Popen(
        [
            sys.executable,
            str(ref.driver),
            str(home),
            str(ref.src),
            str(ref.model_src),
            DATASET,
            MODEL,
        ],
        cwd=home.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "ready\n", (
        f"driver failed to start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("faults")
    rng = random.Random(SEED)
    files: dict[str, bytes | str] = {
        f"g{i % 25:02d}/f{i:04d}.txt": rng.randbytes(rng.randint(1, 3000))
        for i in range(SMALL_FILES)
    }
    files["big/weights-3mib.bin"] = rng.randbytes(3 * 1024 * 1024)
    files["empty.txt"] = b""
    src = write_files(root / "src", files)
    os.chmod(src / "g00" / "f0000.txt", 0o755)  # an executable bit to carry
    model_src = write_files(
        root / "model",
        {"weights.bin": rng.randbytes(2 * 1024 * 1024 + 5), "cfg.json": '{"lr": 0.1}'},
    )
    first_src = write_files(root / "m0", {"cfg.json": '{"lr": 1.0}'})
    driver = root / "driver.py"
    driver.write_text(DRIVER)

    base = root / "base-hub"
    with Hub(str(base), user="alice") as hub:
        hub.create(DATASET)
        hub.create(MODEL)
        first = hub.commit(f"{MODEL}:main", str(first_src), message="m0").id
        empty = _draft(hub)[0]

    # One uninterrupted run in a hub of its own: its length spreads the kill points.
    ref_home = root / "reference-hub"
    shutil.copytree(base, ref_home, symlinks=True)
    partial = Reference(base, src, model_src, driver, 0.0, empty, "", "", first, {}, {})
    proc = _launch(partial, ref_home)
    _wait_ready(proc)
    started = time.monotonic()
    assert proc.stdout is not None
    stages = [proc.stdout.readline().strip() for _ in range(3)]
    duration = time.monotonic() - started  # until "committed" is reported, not until exit
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert stages == ["added", "published", "committed"], (stages, out, err)
    with Hub(str(ref_home), user="alice") as hub:
        v1 = hub.show(f"{DATASET}:v1")["commit"]
        head = hub.show(f"{MODEL}:main")["commit"]
        assert head.parents == (first,)
        src_files = {f"src/{k}": v for k, v in read_files(src).items()}
        assert len(src_files) == SMALL_FILES + 2
        assert _checkout(hub, f"{DATASET}:v1", root / "reference-v1") == src_files
        return Reference(
            base,
            src,
            model_src,
            driver,
            duration,
            empty,
            v1.tree,
            head.tree,
            first,
            src_files,
            read_files(model_src),
        )


_counter = iter(range(10**6))


def _checkout(hub: Hub, ref: str, dest: Path) -> dict[str, bytes]:
    hub.checkout(ref, str(dest))
    return read_files(dest)


def _refs(hub: Hub, path: str) -> dict[str, tuple[str, str]]:
    with hub.meta.read() as conn:
        asset = hub._asset(conn, parse_asset_path(path))
        return {r.name: (r.kind, r.commit_id) for r in hub.catalog.list_refs(conn, asset.id)}


def _draft(hub: Hub) -> tuple[str, str | None]:
    with hub.meta.read() as conn:
        asset = hub._asset(conn, parse_asset_path(DATASET))
        draft = hub.catalog.draft(conn, asset.id)
        return draft.tree, draft.base_commit


def check_old_or_new(hub: Hub, ref: Reference, reported: list[str], scratch: Path) -> str:
    """Assert each piece is whole (old or new) and consistent; returns how far the run got."""
    report = hub.fsck()
    assert report.ok, report.problems

    draft_tree, draft_base = _draft(hub)
    assert draft_tree in (ref.empty_tree, ref.draft_tree), "the draft is half-updated"
    added = draft_tree == ref.draft_tree

    dataset_refs = _refs(hub, DATASET)
    assert set(dataset_refs) in (set(), {"v1", "main"}), dataset_refs
    published = "v1" in dataset_refs
    if published:
        v1 = hub.show(f"{DATASET}:v1")["commit"]
        assert dataset_refs["main"] == ("latest", v1.id)
        assert v1.tree == ref.draft_tree and v1.parents == ()
        assert draft_base == v1.id, "v1 exists but the draft does not start from it"
        assert added
        dest = scratch / f"v1-{next(_counter)}"
        assert _checkout(hub, f"{DATASET}:v1", dest) == ref.src_files
    else:
        assert draft_base is None

    model_refs = _refs(hub, MODEL)
    assert set(model_refs) == {"main"}
    log = hub.log(f"{MODEL}:main")
    committed = log[0].id != ref.first_commit
    if committed:
        assert [c.id for c in log[1:]] == [ref.first_commit]
        assert log[0].tree == ref.model_tree and log[0].message == "trained"
        assert log[0].params == {"lr": 0.1}
        assert published, "the model commit landed before the dataset was published"
    else:
        assert [c.id for c in log] == [ref.first_commit]

    # Whatever the driver reported as done had been committed to disk before the kill.
    if "added" in reported:
        assert added
    if "published" in reported:
        assert published
    if "committed" in reported:
        assert committed
    return (
        "committed" if committed else "published" if published else "added" if added else "nothing"
    )


def retry_steps(hub: Hub, ref: Reference) -> None:
    """The same three steps, run again by a user who does not know how far the first got."""
    hub.add(DATASET, [str(ref.src)])
    try:
        hub.publish(DATASET, "first")
    except Conflict as err:
        assert "nothing to publish" in str(err)
    if hub.show(f"{MODEL}:main")["commit"].message != "trained":
        hub.commit(f"{MODEL}:main", str(ref.model_src), message="trained", params={"lr": 0.1})


def check_final(hub: Hub, ref: Reference, scratch: Path) -> None:
    report = hub.fsck()
    assert report.ok, report.problems
    assert _draft(hub)[0] == ref.draft_tree
    assert set(_refs(hub, DATASET)) == {"v1", "main"}
    assert hub.show(f"{DATASET}:v1")["commit"].tree == ref.draft_tree
    log = hub.log(f"{MODEL}:main")
    assert len(log) == 2 and log[1].id == ref.first_commit and log[0].tree == ref.model_tree
    assert _checkout(hub, f"{DATASET}:v1", scratch / f"final-v1-{next(_counter)}") == ref.src_files
    assert _checkout(hub, f"{MODEL}:main", scratch / f"final-m-{next(_counter)}") == ref.model_files


def _kill_delays(duration: float) -> list[float]:
    rng = random.Random(SEED)
    return sorted(rng.uniform(0.0, duration) for _ in range(KILL_POINTS))


def test_the_reference_run_is_whole(reference: Reference, tmp_path: Path) -> None:
    home = tmp_path / "hub"
    shutil.copytree(reference.base, home, symlinks=True)
    with Hub(str(home), user="alice") as hub:
        assert check_old_or_new(hub, reference, [], tmp_path) == "nothing"
        retry_steps(hub, reference)
        check_final(hub, reference, tmp_path)
        # a retry after success changes nothing
        before = (_draft(hub), _refs(hub, DATASET), _refs(hub, MODEL))
        retry_steps(hub, reference)
        assert (_draft(hub), _refs(hub, DATASET), _refs(hub, MODEL)) == before


@pytest.mark.parametrize("point", range(KILL_POINTS))
def test_sigkill_leaves_old_or_new_state_and_a_retry_succeeds(
    point: int, reference: Reference, tmp_path: Path
) -> None:
    delay = _kill_delays(reference.duration)[point]
    home = tmp_path / "hub"
    shutil.copytree(reference.base, home, symlinks=True)

    proc = _launch(reference, home)
    _wait_ready(proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    reported = out.split()
    assert proc.returncode in (0, -signal.SIGKILL), err
    assert "Traceback" not in err, err

    with Hub(str(home), user="alice") as hub:
        reached = check_old_or_new(hub, reference, reported, tmp_path)
        print(f"kill after {delay * 1000:.0f} ms: reported {reported}, state '{reached}'")
        retry_steps(hub, reference)
        check_final(hub, reference, tmp_path)
    # and a fresh process sees the same final state
    with Hub(str(home), user="alice") as hub:
        check_final(hub, reference, tmp_path)


def test_kill_points_cover_the_run(reference: Reference) -> None:
    """The seeded delays spread over the whole measured run, not just its start."""
    delays = _kill_delays(reference.duration)
    assert len(delays) == KILL_POINTS
    assert all(0.0 <= d <= reference.duration for d in delays)
    assert max(delays) > reference.duration / 2 > min(delays)
