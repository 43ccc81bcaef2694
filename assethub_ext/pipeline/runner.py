"""Running a pipeline: stages in dependency order, unchanged ones skipped, each under papermill.

Papermill runs as a subprocess per stage attempt (a kernel's event loop cannot host
another, and a subprocess can be timed out and killed cleanly), started before the hub is
opened when the stage is expected to run (``workers``), so that papermill's seconds-long
import overlaps the run's own work; independent stages run side by side (``jobs``).
Everything that touches the hub happens in the calling thread: inputs are checked out
before a stage starts, and its outputs are committed after it succeeded, all in one
transaction (``Hub.commit_run``), so a run killed at any point leaves no half-commit.
A failed stage commits nothing, keeps its executed notebook (with the error) under
``.assethub/runs/<run id>/<stage>/``, and the stages that depend on it do not start.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
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

import yaml

from ..core.errors import AlreadyExists, AssetHubError, Conflict, InvalidInput
from ..core.lineage import capture_environment
from ..core.names import AssetRef, quote
from ..core.runs import EVALUATION, RunDetails, RunOutput, RunRecord
from .keys import StageKey, key_environment, stage_key
from .spec import Pipeline, StageSpec
from .state import STATE_DIR, STATE_FILE, read_state
from .workers import WorkerPool, start_workers

if TYPE_CHECKING:
    from ..core.hub import Hub

LOCK_FILE = "assethub.lock"
LOCK_FORMAT = 1
LOCK_HEADER = (
    "# Written by 'assethub run': the commit each ref input resolved to. Keep it with\n"
    "# assethub.yaml; 'assethub run --frozen' reads these instead of the refs' heads.\n"
)


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
    frozen: bool = False  # ref inputs read from assethub.lock instead of resolved now


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
        workers: WorkerPool | None = None,
    ) -> None:
        self.hub = hub
        self.pipeline = pipeline
        self.options = options or RunOptions()
        self.report = report or _quiet
        self.run_id = uuid.uuid4().hex
        self.results: dict[str, StageResult] = {}
        self._refs: dict[str, str] = {}
        self._locked = _read_lock(pipeline.path(LOCK_FILE))
        self._started = workers  # workers the caller started, earlier still; else run() does
        self._workers = WorkerPool()  # none started: each stage starts its own
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def state_dir(self) -> str:
        return self.pipeline.path(STATE_DIR)

    @functools.cached_property
    def _environment(self) -> dict[str, Any]:
        """Captured once: keys and lineage share it (after the workers started: it takes a while)."""
        return capture_environment()

    @functools.cached_property
    def _env(self) -> dict[str, Any]:
        return key_environment(self._environment)

    # -- planning ------------------------------------------------------------------------
    def plan(self, targets: list[str] | None = None) -> list[StageResult]:
        """What a run would do, without running or committing anything."""
        order = self.pipeline.needed_for(targets or [])
        self._resolve_refs(order)
        last = read_state(self.state_dir)
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
        reasons = self._moved(stage) + _why(key, last)
        failed = (last or {}).get("failed") or {}
        if failed.get("key") == key.key:  # the same stage failed last time: say why, and where
            reasons.insert(0, f"last run: {failed.get('message')}")
        return StageResult(stage.name, "stale", key.key, reasons=reasons)

    def _moved(self, stage: StageSpec) -> list[str]:
        """Ref inputs that name another commit than the lock file holds."""
        moved = []
        for ref in sorted({str(r) for r in stage.inputs.values() if isinstance(r, AssetRef)}):
            locked, now = self._locked.get(ref), self._refs[ref]
            if locked is not None and locked != now:
                moved.append(f"{ref} moved since {LOCK_FILE} ({locked[:12]} -> {now[:12]})")
        return moved

    def _resolve_refs(self, order: list[str]) -> None:
        """Resolve every asset-ref input once, up front: a missing one stops the run before it starts.

        Frozen, each ref reads its commit from the lock file instead (and that commit must
        still be in the hub, readable to you).
        """
        for name in order:
            for ref in self.pipeline.stages[name].inputs.values():
                text = str(ref)
                if not isinstance(ref, AssetRef) or text in self._refs:
                    continue
                if not self.options.frozen:
                    self._refs[text] = self.hub.resolve_commit(text)[1].id
                    continue
                locked = self._locked.get(text)
                if locked is None:
                    raise InvalidInput(
                        f"{LOCK_FILE} holds no commit for {text}; run without --frozen first."
                    )
                self._refs[text] = self.hub.resolve_commit(f"{ref.path}:{locked}")[1].id

    def _write_lock(self, order: list[str]) -> None:
        """Keep the commits that the ref inputs of stages that ran or were skipped resolved to."""
        done = [n for n in order if self.results[n].state in ("ran", "skipped")]
        refs = dict(self._locked)
        for name in done:
            for ref in self.pipeline.stages[name].inputs.values():
                if isinstance(ref, AssetRef):
                    refs[str(ref)] = self._refs[str(ref)]
        if refs != self._locked:
            text = yaml.safe_dump({"format": LOCK_FORMAT, "refs": dict(sorted(refs.items()))})
            _write_text(self.pipeline.path(LOCK_FILE), LOCK_HEADER + text)
            self._locked = refs

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
            self._workers = self._started or start_workers(self.pipeline, order, self.options.jobs)
            try:
                self._resolve_refs(order)
                self._schedule(order)
            finally:
                self._workers.close()
                self._kill_all()
                with contextlib.suppress(OSError):  # kept only if a failed stage is in it
                    os.rmdir(os.path.join(self.state_dir, "runs", self.run_id))
            self._write_lock(order)
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
        import tenacity  # imported here: it imports tornado, which a rerun that skips all needs not

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
        args = papermill_args(
            self.pipeline.path(stage.notebook),
            executed,
            os.path.join(folder, "parameters.json"),
            os.path.join(folder, "work"),
            self.options.kernel,
        )
        log = os.path.join(folder, "papermill.log")
        open(log, "wb").close()  # each attempt's log starts empty
        code = self._wait(self._workers.launch(args, self._kernel_env(stage), log))
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
            self._remember_failure(stage, result)
        else:
            self._remember(stage, key)
            shutil.rmtree(folder, ignore_errors=True)
            result = StageResult(stage.name, "ran", key.key, outputs=record.outputs)
        result.seconds = round(time.monotonic() - began, 3)
        self._record(result)

    def _commit(self, stage: StageSpec, key: StageKey, folder: str, executed: str) -> RunRecord:
        work = os.path.realpath(os.path.join(folder, "work"))
        inputs = self._input_commits(stage)
        with open(executed, "rb") as f:
            notebook = f.read()
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
                "environment": self._environment,
            },
            message=f"pipeline stage {stage.name}",
            cwd=self.pipeline.root,
        )
        outputs = _run_outputs(stage, work, inputs)
        return self.hub.commit_run(key.key, stage.name, self.run_id, outputs, notebook, details)

    def _remember_failure(self, stage: StageSpec, result: StageResult) -> None:
        """Keep why the stage failed and where its executed notebook is, for ``status``."""
        state = read_state(self.state_dir)
        entry = state.setdefault(stage.name, {})
        entry["failed"] = {"run_id": self.run_id, "message": result.message, "key": result.key}
        _write_json(os.path.join(self.state_dir, STATE_FILE), state)

    def _remember(self, stage: StageSpec, key: StageKey) -> None:
        """Keep the key's parts locally, so ``status`` can say what changed since."""
        state = read_state(self.state_dir)
        state[stage.name] = {"key": key.key, "parts": key.parts, "run_id": self.run_id}
        _write_json(os.path.join(self.state_dir, STATE_FILE), state)


def papermill_args(
    notebook: str, executed: str, parameters: str, cwd: str, kernel: str | None = None
) -> list[str]:
    """Papermill's command-line arguments: parameters from a JSON file, quiet but for errors."""
    args = [
        notebook, executed, "-f", parameters, "--cwd", cwd, "--no-progress-bar",
        "--log-level", "ERROR",
    ]  # fmt: skip
    return [*args, "--kernel", kernel] if kernel else args


def papermill_command(
    notebook: str, executed: str, parameters: str, cwd: str, kernel: str | None = None
) -> list[str]:
    """Papermill as a subprocess of its own (sweep trials)."""
    return [
        sys.executable,
        "-m",
        "papermill",
        *papermill_args(notebook, executed, parameters, cwd, kernel),
    ]


def _why(key: StageKey, last: dict[str, Any] | None) -> list[str]:
    """Which parts of the key differ from the last run here."""
    if last is None or "parts" not in last:
        return ["never run here"]
    before = last.get("parts", {})
    changed = [part for part, value in key.parts.items() if before.get(part) != value]
    return [f"{part} changed" for part in changed] or ["its earlier run is not in this hub"]


def _run_outputs(stage: StageSpec, work: str, inputs: dict[str, dict[str, str]]) -> list[RunOutput]:
    """What the stage hands the hub: its outputs, or (evaluate) the report for its version."""
    start = inputs[stage.start] if stage.start else None
    if stage.evaluates and stage.report and start:
        report = _inside_run(work, stage.report, "report")
        version = f"{start['asset']}:{start['commit']}"
        return [RunOutput("evaluation", version, report, kind=EVALUATION)]
    return [
        RunOutput(
            o.name,
            str(o.to),
            _inside_run(work, o.source, f"output {quote(o.name)}"),
            start=start["commit"] if start else None,
        )
        for o in stage.outputs.values()
    ]


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


def _write_json(path: str, value: Any) -> None:
    _write_text(path, json.dumps(value, indent=1, sort_keys=True, default=str))


def _write_text(path: str, text: str) -> None:
    """Replace ``path`` atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(prefix=".assethub-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_lock(path: str) -> dict[str, str]:
    """The lock file's ref -> commit id; none yet is empty, a damaged one is refused."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise InvalidInput(f"cannot read {LOCK_FILE} ({err}); delete it to start afresh.") from None
    refs = data.get("refs") if isinstance(data, dict) else None
    if (
        not isinstance(refs, dict)
        or data.get("format") != LOCK_FORMAT
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in refs.items())
    ):
        raise InvalidInput(
            f"{LOCK_FILE} is not a lock file this version writes; delete it to start afresh."
        )
    return refs


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
