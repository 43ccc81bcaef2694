"""Running a pipeline: stages in dependency order, unchanged ones skipped, each under papermill.

Papermill runs as a subprocess per stage (a kernel's event loop cannot host another, and a
subprocess can be timed out and killed cleanly); independent stages run side by side
(``jobs``). Everything that touches the hub happens in the calling thread: inputs are
checked out before a stage starts, and its outputs are committed after it succeeded, all in
one transaction (``Hub.commit_run``), so a run killed at any point leaves no half-commit.
A failed stage commits nothing, keeps its executed notebook (with the error) under
``.assethub/runs/<run id>/<stage>/``, and the stages that depend on it do not start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Any

import tenacity

from ..core.errors import AlreadyExists, AssetHubError, Conflict, InvalidInput
from ..core.names import AssetRef, quote
from ..core.runs import RunDetails, RunOutput, RunRecord
from .keys import StageKey, environment, stage_key
from .spec import Pipeline, StageSpec

if TYPE_CHECKING:
    from ..core.hub import Hub

STATE_DIR = ".assethub"
STATE_FILE = "state.json"


class StageFailed(AssetHubError):
    """A stage's notebook failed, timed out, or left its outputs unusable."""

    code = "stage_failed"


@dataclass(frozen=True)
class RunOptions:
    jobs: int = 1
    retries: int = 0
    timeout: float | None = None  # seconds per stage attempt
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    kernel: str | None = None  # default: the notebook's own kernelspec


@dataclass
class StageResult:
    """How a stage ended (or, for ``plan``, would start): ``state`` and why."""

    name: str
    state: str  # ran | skipped | failed | blocked | up-to-date | stale | waiting
    key: str | None = None
    reasons: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    notebook: str | None = None  # executed notebook kept on disk (failures)
    message: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


Report = Callable[[StageResult], None]


def _quiet(_: StageResult) -> None:
    """The default report: say nothing."""


class PipelineRunner:
    """One run (or plan) of a pipeline against a hub."""

    def __init__(
        self,
        hub: Hub,
        pipeline: Pipeline,
        options: RunOptions | None = None,
        report: Report | None = None,
    ) -> None:
        self.hub = hub
        self.pipeline = pipeline
        self.options = options or RunOptions()
        self.report = report or _quiet
        self.run_id = uuid.uuid4().hex
        self.results: dict[str, StageResult] = {}
        self._refs: dict[str, str] = {}
        self._env = environment()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def state_dir(self) -> str:
        return self.pipeline.path(STATE_DIR)

    # -- planning ------------------------------------------------------------------------
    def plan(self, targets: list[str] | None = None) -> list[StageResult]:
        """What a run would do, without running or committing anything."""
        order = self.pipeline.needed_for(targets or [])
        self._resolve_refs(order)
        last = _read_state(self.state_dir)
        for name in order:
            result = self._decide(self.pipeline.stages[name], last.get(name))
            self.results[name] = result
        return [self.results[name] for name in order]

    def _decide(self, stage: StageSpec, last: dict[str, Any] | None) -> StageResult:
        waiting = [u for u in sorted(stage.upstream) if not self.results[u].outputs]
        if waiting:
            return StageResult(stage.name, "waiting", reasons=[f"runs after {', '.join(waiting)}"])
        key = self._key(stage)
        cached = self.hub.run_cache_get(key.key)
        if cached is not None:
            return StageResult(stage.name, "up-to-date", key.key, outputs=cached.outputs)
        return StageResult(stage.name, "stale", key.key, reasons=_why(key, last))

    def _resolve_refs(self, order: list[str]) -> None:
        """Resolve every asset-ref input once, up front: a missing one stops the run before it starts."""
        for name in order:
            for ref in self.pipeline.stages[name].inputs.values():
                if isinstance(ref, AssetRef) and str(ref) not in self._refs:
                    self._refs[str(ref)] = self.hub.resolve_commit(str(ref))[1].id

    def _input_commits(self, stage: StageSpec) -> dict[str, dict[str, str]]:
        """Each input's asset and commit: a resolved ref, or what the upstream stage made."""
        found = {}
        for name, source in stage.inputs.items():
            if isinstance(source, AssetRef):
                found[name] = {"asset": str(source.path), "commit": self._refs[str(source)]}
            else:
                made = self.results[source.stage].outputs[source.output]
                found[name] = {"asset": made["asset"], "commit": made["commit"]}
        return found

    def _key(self, stage: StageSpec) -> StageKey:
        commits = {name: i["commit"] for name, i in self._input_commits(stage).items()}
        return stage_key(self.pipeline, stage, commits, self._env)

    # -- running -------------------------------------------------------------------------
    def run(self, targets: list[str] | None = None) -> list[StageResult]:
        """Run what is needed for ``targets`` (all stages if none); returns every stage's result."""
        if self.options.jobs < 1 or self.options.retries < 0:
            raise InvalidInput("--jobs must be at least 1 and --retries at least 0.")
        order = self.pipeline.needed_for(targets or [])
        with _project_lock(self.state_dir):
            self._resolve_refs(order)
            try:
                self._schedule(order)
            finally:
                self._kill_all()
                with contextlib.suppress(OSError):  # kept only if a failed stage is in it
                    os.rmdir(os.path.join(self.state_dir, "runs", self.run_id))
        return [self.results[name] for name in order]

    def _schedule(self, order: list[str]) -> None:
        graph = {name: self.pipeline.stages[name].upstream for name in order}
        sorter = TopologicalSorter(graph)
        sorter.prepare()
        running: dict[Future[None], tuple[StageSpec, StageKey, str, float]] = {}
        with ThreadPoolExecutor(max_workers=self.options.jobs) as pool:
            try:
                self._drive(sorter, pool, running)
            except BaseException:  # Ctrl-C or a hub error: stop the notebooks before waiting
                self._kill_all()
                raise

    def _drive(
        self,
        sorter: TopologicalSorter[str],
        pool: ThreadPoolExecutor,
        running: dict[Future[None], tuple[StageSpec, StageKey, str, float]],
    ) -> None:
        """Start what is ready, wait for one stage to end, commit it; until all are done."""
        while sorter.is_active():
            for name in sorter.get_ready():
                started = self._start(self.pipeline.stages[name], pool)
                if started is None:
                    sorter.done(name)
                else:
                    running[started[0]] = started[1]
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                stage, key, folder, began = running.pop(future)
                self._finish(stage, key, folder, future, began)
                sorter.done(stage.name)

    def _start(
        self, stage: StageSpec, pool: ThreadPoolExecutor
    ) -> tuple[Future[None], tuple[StageSpec, StageKey, str, float]] | None:
        """Skip, block, or start a stage; returns its future when it runs."""
        failed = [
            u for u in sorted(stage.upstream) if self.results[u].state in ("failed", "blocked")
        ]
        if failed:
            self._record(StageResult(stage.name, "blocked", message=f"{failed[0]} failed"))
            return None
        key = self._key(stage)
        cached = self.hub.run_cache_get(key.key)
        if cached is not None:
            self._remember(stage, key)
            self._record(StageResult(stage.name, "skipped", key.key, outputs=cached.outputs))
            return None
        self._create_outputs(stage)
        folder = os.path.join(self.state_dir, "runs", self.run_id, stage.name)
        params = self._materialise(stage, folder)
        future = pool.submit(self._execute, stage, folder, params)
        return future, (stage, key, folder, time.monotonic())

    def _record(self, result: StageResult) -> None:
        self.results[result.name] = result
        self.report(result)

    def _create_outputs(self, stage: StageSpec) -> None:
        """Output assets that do not exist yet are created (as ``assethub create`` would)."""
        for output in stage.outputs.values():
            with contextlib.suppress(AlreadyExists):
                self.hub.create(str(output.to.path))

    def _materialise(self, stage: StageSpec, folder: str) -> dict[str, Any]:
        """Check inputs out into the stage's folder; the notebook gets their paths as parameters."""
        params = dict(stage.parameters)
        os.makedirs(os.path.join(folder, "work"), exist_ok=True)
        for name, found in self._input_commits(stage).items():
            dest = os.path.join(folder, "inputs", name)
            self.hub.checkout(f"{found['asset']}:{found['commit']}", dest)
            params[name] = dest
        return params

    def _execute(self, stage: StageSpec, folder: str, params: dict[str, Any]) -> None:
        """Papermill on the stage's notebook, retried with exponential backoff (worker thread)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.options.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.options.backoff, max=60),
            retry=tenacity.retry_if_exception(
                lambda err: isinstance(err, StageFailed) and not self._stopping.is_set()
            ),
            reraise=True,
        )
        retrying(self._papermill, stage, folder, params)

    def _papermill(self, stage: StageSpec, folder: str, params: dict[str, Any]) -> None:
        executed = os.path.join(folder, os.path.basename(stage.notebook))
        with open(os.path.join(folder, "parameters.json"), "w", encoding="utf-8") as f:
            json.dump(params, f)
        command = papermill_command(
            self.pipeline.path(stage.notebook),
            executed,
            os.path.join(folder, "parameters.json"),
            os.path.join(folder, "work"),
            self.options.kernel,
        )
        with open(os.path.join(folder, "papermill.log"), "wb") as log:
            code = self._wait(
                subprocess.Popen(command, env=self._kernel_env(stage), stdout=log, stderr=log)
            )
        if code != 0:
            raise StageFailed(_failure(stage, executed, code, self.options.timeout))

    def _wait(self, proc: subprocess.Popen[bytes]) -> int | None:
        """The exit status; None when the stage ran past its timeout (and was killed)."""
        with self._lock:
            self._procs.add(proc)
        try:
            return proc.wait(timeout=self.options.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
        finally:
            with self._lock:
                self._procs.discard(proc)

    def _kill_all(self) -> None:
        """Stop every stage still running (Ctrl-C, or an error in this thread)."""
        self._stopping.set()
        with self._lock:
            for proc in self._procs:
                with contextlib.suppress(OSError):
                    proc.kill()

    def _kernel_env(self, stage: StageSpec) -> dict[str, str]:
        """The kernel learns its notebook and run (for ``%asset``) and imports the project's code."""
        env = dict(os.environ)
        env["ASSETHUB_NOTEBOOK"] = self.pipeline.path(stage.notebook)
        env["ASSETHUB_RUN_ID"] = self.run_id
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (self.pipeline.root, env.get("PYTHONPATH", "")) if p
        )
        return env

    def _finish(
        self, stage: StageSpec, key: StageKey, folder: str, future: Future[None], began: float
    ) -> None:
        executed = os.path.join(folder, os.path.basename(stage.notebook))
        try:
            future.result()
            record = self._commit(stage, key, folder, executed)
        except AssetHubError as err:
            result = StageResult(stage.name, "failed", key.key, notebook=executed, message=str(err))
        else:
            self._remember(stage, key)
            shutil.rmtree(folder, ignore_errors=True)
            result = StageResult(stage.name, "ran", key.key, outputs=record.outputs)
        result.seconds = round(time.monotonic() - began, 3)
        self._record(result)

    def _commit(self, stage: StageSpec, key: StageKey, folder: str, executed: str) -> RunRecord:
        work = os.path.realpath(os.path.join(folder, "work"))
        outputs = [
            RunOutput(o.name, str(o.to), _inside_run(work, o.source, f"output {quote(o.name)}"))
            for o in stage.outputs.values()
        ]
        with open(executed, "rb") as f:
            notebook = f.read()
        inputs = self._input_commits(stage)
        details = RunDetails(
            params=stage.parameters,
            metrics=_metrics(work, stage.metrics) if stage.metrics else {},
            inputs=[f"{i['asset']}:{i['commit']}" for i in inputs.values()],
            lineage={
                "caller": {
                    "kind": "notebook",
                    "path": stage.notebook,
                    "code_hash": key.parts["notebook"]["code"],
                },
                "papermill": {"parameters": stage.parameters},
                "stage": {"name": stage.name, "key": key.key, "inputs": inputs},
            },
            message=f"pipeline stage {stage.name}",
            cwd=self.pipeline.root,
        )
        return self.hub.commit_run(key.key, stage.name, self.run_id, outputs, notebook, details)

    def _remember(self, stage: StageSpec, key: StageKey) -> None:
        """Keep the key's parts locally, so ``status`` can say what changed since."""
        state = _read_state(self.state_dir)
        state[stage.name] = {"key": key.key, "parts": key.parts, "run_id": self.run_id}
        _write_json(os.path.join(self.state_dir, STATE_FILE), state)


def papermill_command(
    notebook: str, executed: str, parameters: str, cwd: str, kernel: str | None = None
) -> list[str]:
    """Papermill as a subprocess (shared with sweep trials): parameters from a JSON file."""
    command = [
        sys.executable, "-m", "papermill", notebook, executed, "-f", parameters, "--cwd", cwd,
        "--no-progress-bar", "--log-level", "ERROR",
    ]  # fmt: skip
    return [*command, "--kernel", kernel] if kernel else command


def _why(key: StageKey, last: dict[str, Any] | None) -> list[str]:
    """Which parts of the key differ from the last run here."""
    if last is None:
        return ["never run here"]
    before = last.get("parts", {})
    changed = [part for part, value in key.parts.items() if before.get(part) != value]
    return [f"{part} changed" for part in changed] or ["its earlier run is not in this hub"]


def _inside_run(work: str, relative: str, what: str) -> str:
    """A path in the stage's work folder that no link leads out of."""
    path = os.path.join(work, relative)
    real = os.path.realpath(path)
    if not real.startswith(work + os.sep):
        raise StageFailed(f"{what} {quote(relative)} leads out of the stage's folder.")
    if not os.path.exists(real):
        raise StageFailed(f"{what}: the notebook did not write {quote(relative)}.")
    return real


def _metrics(work: str, relative: str) -> dict[str, Any]:
    path = _inside_run(work, relative, "metrics")
    try:
        with open(path, encoding="utf-8") as f:
            metrics = json.load(f)
    except (OSError, ValueError) as err:
        raise StageFailed(f"metrics file {quote(relative)} is not readable JSON ({err}).") from None
    if not isinstance(metrics, dict):
        raise StageFailed(f"metrics file {quote(relative)} must hold a JSON object.")
    return metrics


def _failure(stage: StageSpec, executed: str, code: int | None, timeout: float | None) -> str:
    """One sentence: the notebook's own error when it has one."""
    if code is None:
        return f"stage {quote(stage.name)} ran past its timeout of {timeout:g} s and was stopped."
    error = notebook_error(executed)
    where = f"; the executed notebook is {executed}" if os.path.exists(executed) else ""
    return f"stage {quote(stage.name)} failed: {error or f'papermill exited with {code}'}{where}."


def notebook_error(executed: str) -> str | None:
    try:
        with open(executed, encoding="utf-8") as f:
            cells = json.load(f).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    for cell in cells:
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            if isinstance(output, dict) and output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')}".rstrip(": ")
    return None


def _read_state(folder: str) -> dict[str, Any]:
    try:
        with open(os.path.join(folder, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return {}  # no state, or a damaged one: status then says "never run here"
    return state if isinstance(state, dict) else {}


def _write_json(path: str, value: Any) -> None:
    """Replace ``path`` atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, sort_keys=True, default=str)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _project_lock(folder: str) -> Iterator[None]:
    """One run at a time per project: they would share stage folders and the state file."""
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, "run.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                "another 'assethub run' is running in this project; wait for it to finish."
            ) from None
        yield
    finally:
        os.close(fd)
