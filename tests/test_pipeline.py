"""Pipelines headless: the real ``assethub`` command running real notebooks under papermill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_notebook
from sklearn.datasets import load_digits

from assethub_ext import Hub
from assethub_ext.core.errors import NotFound

ROOT = Path(__file__).resolve().parent.parent
DIGITS = "demo/dataset/cv/digits"
SPLIT = "demo/dataset/cv/digits-split"
MODEL = "demo/model/cv/digits-pipeline"
REPORT = "demo/model/cv/digits-report"

Cli = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow


def publish_digits(hub: Hub, folder: Path, count: int) -> None:
    """The first ``count`` of scikit-learn's digits as the next version of the dataset."""
    digits = load_digits()
    rows = np.column_stack([digits.data[:count].astype(int), digits.target[:count]])
    (folder / "digits").mkdir(parents=True, exist_ok=True)
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    np.savetxt(
        folder / "digits" / "digits.csv", rows, fmt="%d", delimiter=",", header=header, comments=""
    )
    hub.add(DIGITS, [str(folder / "digits")])
    hub.publish(DIGITS)


def states(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert done.stdout, done.stderr
    return {r["name"]: r["state"] for r in json.loads(done.stdout)}


@pytest.fixture
def demo(make_hub: Callable[..., Hub]) -> Hub:
    return make_hub("demo")


@pytest.fixture
def project(demo: Hub, tmp_path: Path) -> Path:
    demo.create(DIGITS)
    publish_digits(demo, tmp_path / "v1", 600)
    return Path(shutil.copytree(ROOT / "examples" / "pipeline", tmp_path / "project"))


def test_the_example_runs_skips_and_reruns_exactly_what_changed(
    cli: Cli, demo: Hub, project: Path, tmp_path: Path
) -> None:
    def run(*args: str) -> dict[str, str]:
        done = cli("run", "--json", *args, user="demo", cwd=project)
        assert done.returncode == 0, done.stderr
        return states(done)

    assert run("-j", "2") == {"prepare": "ran", "train": "ran", "evaluate": "ran"}
    model, report = demo.show(MODEL)["commit"], demo.show(REPORT)["commit"]
    split = demo.show(SPLIT)["commit"]
    assert split.meta["version"] == "v1"
    assert [i["commit"] for i in model.lineage["inputs"]] == [split.id]
    assert {i["commit"] for i in report.lineage["inputs"]} == {split.id, model.id}
    assert model.params["epochs"] == 40 and "train_loss" in model.metrics
    assert report.metrics["accuracy"] > 0.8  # a real network really trained
    assert model.lineage["caller"]["path"] == "train.ipynb"
    notebook = json.loads(demo.objects.read_bytes(report.meta["run"]["executed_notebook"]))
    assert "accuracy" in json.dumps(notebook["cells"][-1]["outputs"])
    assert not (project / ".assethub" / "runs" / model.meta["run"]["id"]).exists()

    status = cli("status", "--json", user="demo", cwd=project)
    assert set(states(status).values()) == {"up-to-date"}
    assert run() == {"prepare": "skipped", "train": "skipped", "evaluate": "skipped"}
    assert len(demo.log(MODEL)) == 1 and len(demo.log(REPORT)) == 1

    spec = project / "assethub.yaml"
    spec.write_text(spec.read_text().replace("epochs: 40", "epochs: 30"))
    why = json.loads(cli("status", "--json", user="demo", cwd=project).stdout)
    assert [(r["name"], r["state"]) for r in why] == [
        ("prepare", "up-to-date"),
        ("train", "stale"),
        ("evaluate", "waiting"),
    ]
    assert why[1]["reasons"] == ["parameters changed"]
    assert run() == {"prepare": "skipped", "train": "ran", "evaluate": "ran"}
    assert demo.show(MODEL)["commit"].params["epochs"] == 30

    publish_digits(demo, tmp_path / "v2", 800)
    assert run("evaluate") == {"prepare": "ran", "train": "ran", "evaluate": "ran"}
    assert demo.show(SPLIT)["commit"].meta["version"] == "v2"
    assert demo.fsck().ok


TINY = """\
stages:
  first:
    notebook: first.ipynb
    parameters: {marker: MARKER}
    outputs:
      out: {to: alice/model/cv/first:main, from: out}
  second:
    notebook: second.ipynb
    parameters: {marker: MARKER}
    inputs: {data: first.out}
    outputs:
      out: {to: alice/model/cv/second:main, from: out}
"""
WRITE_OUT = "import pathlib\npathlib.Path('out').mkdir()\npathlib.Path('out/x.txt').write_text('x')"


def tiny_project(root: Path, second_cell: str) -> Path:
    """Two stages; the second one's behaviour is the test's (it gets a marker file's path)."""
    root.mkdir()
    (root / "assethub.yaml").write_text(TINY.replace("MARKER", str(root.parent / "marker")))
    write_notebook(root / "first.ipynb", "marker = ''", WRITE_OUT)
    write_notebook(root / "second.ipynb", "marker = ''\ndata = ''", second_cell, WRITE_OUT)
    return root


def models(hub: Hub) -> dict[str, int]:
    found = {}
    for name in ("first", "second"):
        try:
            found[name] = len(hub.log(f"alice/model/cv/{name}"))
        except NotFound:  # not created yet, or created with no commit
            found[name] = 0
    return found


FAIL_ONCE = """\
import pathlib
flag = pathlib.Path(marker)
if not flag.exists():
    flag.write_text('failed once')
    raise ValueError('boom')
"""


def test_a_failed_stage_commits_nothing_keeps_its_notebook_and_stops_dependents(
    cli: Cli, hub: Hub, tmp_path: Path
) -> None:
    project = tiny_project(tmp_path / "p", "pass")
    (project / "first.ipynb").unlink()
    write_notebook(project / "first.ipynb", "marker = ''", FAIL_ONCE, WRITE_OUT)
    done = cli("run", cwd=project)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("FAILED     first") and "ValueError: boom" in lines[0]
    assert lines[1] == "blocked    second  first failed"
    kept = lines[0].split("the executed notebook is ")[1].rstrip(".")
    assert "boom" in Path(kept).read_text()
    assert models(hub) == {"first": 0, "second": 0}
    assert "Traceback" not in done.stderr

    done = cli("run", cwd=project)  # the failure is gone now: everything runs
    assert done.returncode == 0, done.stdout + done.stderr
    assert models(hub) == {"first": 1, "second": 1}


def test_retries_and_timeouts(cli: Cli, hub: Hub, tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p", FAIL_ONCE)
    done = cli("run", "--json", "--retries", "1", cwd=project)
    assert done.returncode == 0, done.stderr
    assert states(done) == {"first": "ran", "second": "ran"}
    slow = tiny_project(tmp_path / "slow", "import time\ntime.sleep(120)")
    done = cli("run", "--timeout", "5", "second", cwd=slow)
    assert done.returncode == 1
    assert "ran past its timeout of 5 s" in done.stdout


SLEEP_ONCE = """\
import pathlib, time
flag = pathlib.Path(marker)
if not flag.exists():
    flag.write_text('started')
    time.sleep(300)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_run_stopped_halfway_commits_nothing_half_and_the_next_one_completes(
    cli: Cli, cli_env: dict[str, str], hub: Hub, tmp_path: Path, sig: signal.Signals
) -> None:
    project = tiny_project(tmp_path / "p", SLEEP_ONCE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assethub_ext", "run"],
        cwd=project,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal would give it
    )
    marker = tmp_path / "marker"
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        os.sched_yield()
    busy = cli("run", cwd=project)
    assert busy.returncode == 1 and "another 'assethub run' is running" in busy.stderr
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert models(hub) == {"first": 1, "second": 0}
    assert hub.fsck().ok

    done = cli("run", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert states(done) == {"first": "skipped", "second": "ran"}
    assert models(hub) == {"first": 1, "second": 1}


def test_dag_and_refusals_before_anything_runs(cli: Cli, tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p", "pass")
    dag: list[dict[str, Any]] = json.loads(cli("dag", "--json", cwd=project).stdout)
    assert [(s["name"], s["upstream"]) for s in dag] == [("first", []), ("second", ["first"])]
    assert "second: second.ipynb  (after first)" in cli("dag", "-C", str(project)).stdout
    done = cli("run", "nosuch", cwd=project)
    assert done.returncode == 2 and "no stage named 'nosuch'" in done.stderr
    done = cli("status", "alice/dataset/cv/x", cwd=project)
    assert done.returncode == 2 and "give the SOURCES" in done.stderr
    spec = project / "assethub.yaml"
    spec.write_text(spec.read_text().replace("first.out", "first.nothing"))
    for args in (("run",), ("dag",), ("status",)):
        done = cli(*args, cwd=project)
        assert done.returncode == 2
        assert done.stderr.startswith("error: assethub.yaml, line 10: input 'data'")
    assert not (project / ".assethub" / "runs").exists()
