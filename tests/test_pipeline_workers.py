"""Papermill workers started ahead of their stages: which stages get one, and what is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_notebook
from test_pipeline import states, tiny_project

from assethub_ext.pipeline.runner import papermill_args
from assethub_ext.pipeline.spec import load_pipeline
from assethub_ext.pipeline.workers import WORKER, WorkerPool, expected_stages

Cli = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    cmdline: list[bytes]
    environ: list[bytes]


def processes() -> list[Process]:
    """The live processes this test may read."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours
            continue
        parent = int(stat.rsplit(b")", 1)[1].split()[1])
        found.append(Process(int(entry), parent, cmdline, environ))
    return found


def using_hub(home: str) -> list[int]:
    """Processes started with this hub in their environment (the run's workers among them)."""
    mark = f"ASSETHUB_HOME={home}".encode()
    return [p.pid for p in processes() if mark in p.environ]


def test_only_stages_expected_to_run_are_given_a_worker_ahead(cli: Cli, tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p", "pass")
    pipeline = load_pipeline(str(project))
    order = pipeline.order()
    assert expected_stages(pipeline, order) == {"first", "second"}  # never ran here
    assert states(cli("run", "--json", cwd=project)) == {"first": "ran", "second": "ran"}
    assert expected_stages(pipeline, order) == set()  # a rerun that skips all starts none

    write_notebook(project / "second.ipynb", "marker = ''\ndata = ''", "x = 1", "pass")
    assert expected_stages(load_pipeline(str(project)), order) == {"second"}
    spec = project / "assethub.yaml"
    spec.write_text(spec.read_text().replace("{marker: ", "{extra: 1, marker: ", 1))
    assert expected_stages(load_pipeline(str(project)), order) == {"first", "second"}
    (project / "first.ipynb").write_text("{")  # the run will refuse it; it gets no worker
    assert expected_stages(load_pipeline(str(project)), order) == {"second"}


def test_workers_nobody_takes_are_stopped_with_the_run(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    project = tiny_project(tmp_path / "p", "pass")
    assert states(cli("run", "--json", "-j", "2", cwd=project)) == dict.fromkeys(
        ("first", "second"), "ran"
    )
    assert using_hub(cli_env["ASSETHUB_HOME"]) == []
    (project / ".assethub" / "state.json").unlink()  # both expected again, both in the hub
    done = cli("run", "--json", "-j", "2", cwd=project)
    assert states(done) == {"first": "skipped", "second": "skipped"}
    assert using_hub(cli_env["ASSETHUB_HOME"]) == []  # its two idle workers were killed


def test_a_worker_killed_while_it_waits_is_replaced_and_papermill_reports_to_the_log(
    tmp_path: Path,
) -> None:
    write_notebook(
        tmp_path / "nb.ipynb", "x = 1", "import pathlib\npathlib.Path('x').write_text(str(x))"
    )
    (tmp_path / "work").mkdir()
    (tmp_path / "params.json").write_text(json.dumps({"x": 2}))
    args = papermill_args(
        str(tmp_path / "nb.ipynb"), str(tmp_path / "out.ipynb"), str(tmp_path / "params.json"),
        str(tmp_path / "work"),
    )  # fmt: skip

    def workers_of_mine() -> set[int]:
        """This process's children that run a papermill worker."""
        return {
            p.pid for p in processes() if p.parent == os.getpid() and WORKER.encode() in p.cmdline
        }

    before = workers_of_mine()
    with WorkerPool(expected=1, jobs=1) as pool:
        started = workers_of_mine() - before
        assert len(started) == 1, (before, started)
        [idle] = started
        os.kill(idle, signal.SIGKILL)
        os.waitpid(idle, 0)
        proc = pool.launch(args, dict(os.environ), str(tmp_path / "log"))
        assert proc.pid != idle
        assert proc.wait(timeout=120) == 0, (tmp_path / "log").read_text()
    assert (tmp_path / "work" / "x").read_text() == "2"

    write_notebook(tmp_path / "nb.ipynb", "x = 1", "raise ValueError('boom')")
    with WorkerPool(expected=1, jobs=1) as pool:
        assert pool.launch(args, dict(os.environ), str(tmp_path / "log")).wait(timeout=120) == 1
    assert "ValueError" in (tmp_path / "log").read_text()  # papermill's own report
