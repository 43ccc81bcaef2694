"""Papermill processes started before their stages are ready (see ``papermill_worker``).

Each stage attempt runs in a worker process of its own, as a plain papermill subprocess
would: it can be timed out and killed alone. What changes is when it starts. A run that
expects stages to run starts that many workers (at most ``jobs``) before it opens the hub,
so papermill's import overlaps the run's own work; a stage takes a started worker and sends
it its command once its inputs are checked out. A worker nobody takes is killed at the end
of the run, having done nothing but import papermill. A rerun that expects nothing to run
starts none.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from types import TracebackType

from ..core.errors import AssetHubError
from .keys import local_parts
from .spec import Pipeline
from .state import STATE_DIR, read_state

WORKER = "assethub_ext.pipeline.papermill_worker"


class PapermillWorker:
    """One worker process: papermill imported (or importing), waiting for its command."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,  # until its command names the stage's log
            stderr=subprocess.DEVNULL,
        )

    def go(self, args: list[str], env: dict[str, str], log: str) -> bool:
        """Send papermill's arguments; False if the worker was gone before it got them."""
        order = json.dumps({"args": args, "env": env, "log": log}).encode("utf-8") + b"\n"
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(order)
            self.proc.stdin.close()
        except OSError:  # it died waiting (killed from outside): its pipe is broken
            return False
        return True

    def stop(self) -> None:
        """Kill an unused worker: it has imported papermill and nothing else."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


class WorkerPool:
    """Started workers for the stages a run expects to start, at most ``jobs`` at a time.

    ``expected`` is a guess: a stage expected to run that is skipped leaves its worker
    unused, and one that was not expected starts its worker when it runs.
    """

    def __init__(self, expected: int = 0, jobs: int = 1) -> None:
        self._expected = expected
        self._jobs = jobs
        self._idle: list[PapermillWorker] = []
        self._lock = threading.Lock()
        with self._lock:
            self._fill()

    def _fill(self) -> None:
        """Start workers until those idle cover the stages still expected (lock held)."""
        while len(self._idle) < min(self._jobs, self._expected):
            self._idle.append(PapermillWorker())

    def launch(self, args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        """Papermill with ``args`` in a started worker (a new one if none is idle)."""
        with self._lock:
            worker = self._idle.pop(0) if self._idle else None
        if worker is None or not worker.go(args, env, log):
            worker = PapermillWorker()
            worker.go(args, env, log)  # if this one fails too, its exit status tells
        with self._lock:
            self._expected = max(0, self._expected - 1)
            self._fill()  # the next expected stage's worker imports while this one runs
        return worker.proc

    def close(self) -> None:
        """Kill the workers nobody took; the pool starts no more."""
        with self._lock:
            idle, self._idle, self._expected = self._idle, [], 0
        for worker in idle:
            worker.stop()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def start_workers(pipeline: Pipeline, targets: list[str], jobs: int) -> WorkerPool:
    """Workers for the stages that a run of ``targets`` will probably start."""
    return WorkerPool(len(expected_stages(pipeline, pipeline.needed_for(targets))), jobs)


def expected_stages(pipeline: Pipeline, order: list[str]) -> set[str]:
    """The stages of ``order`` that will probably run, judged without the hub.

    Those whose key parts read from the project differ from the last run here, that failed
    or never ran here, and those downstream of them (new inputs). An input moved by someone
    else is not seen this early: that stage starts its worker when it runs.
    """
    last = read_state(pipeline.path(STATE_DIR))
    expected: set[str] = set()
    for name in order:
        stage = pipeline.stages[name]
        entry = last.get(name) or {}
        try:  # through JSON, as the parts were kept
            parts = json.loads(json.dumps(local_parts(pipeline, stage), default=str))
        except AssetHubError:
            continue  # the run itself says what is wrong, in its turn
        before = entry.get("parts") or {}
        if (
            "failed" in entry
            or stage.upstream & expected
            or any(before.get(part) != value for part, value in parts.items())
        ):
            expected.add(name)
    return expected
