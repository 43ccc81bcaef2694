"""A worker process: claims trials from the study until the budget is spent, runs each.

Started by the sweep (``python -m assethub_ext.sweeps.worker``) with its GPU(s) in
``CUDA_VISIBLE_DEVICES`` and its orders in ``ASSETHUB_SWEEP_WORKER``. A function objective
runs in this process; a notebook runs under papermill, as pipeline stages do. While a
trial runs, a thread records Optuna heartbeats; if this process dies, another worker (or the
rerun sweep) finds the trial stale, fails it and retries it from its last checkpoint. On
SIGTERM, SIGINT or the death of the sweep that started it, the running trial is failed
and queued for a retry at once.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState

from ..core.errors import AlreadyExists, AssetHubError, InvalidInput, NotFound
from ..pipeline.runner import notebook_error, papermill_command
from .context import ENV, Exploited, TrialContext, worker_spec
from .spec import SweepSpec
from .study import (
    MAX_RETRIES,
    OVER_BUDGET,
    budget_state,
    counted,
    open_study,
    suggest,
    trial_name,
    within_budget,
)

WORKER_ENV = "ASSETHUB_SWEEP_WORKER"
POLL_SECONDS = 0.5


class TrialFailed(Exception):
    """The objective failed in a way the worker explains in one sentence."""


def main() -> int:
    info = json.loads(os.environ[WORKER_ENV])
    spec = worker_spec(info)
    number = int(info["worker"])
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    device = "gpu" if gpus else "cpu"
    where = f"GPU {gpus}" if gpus else "no GPU: trials run on the CPU"
    print(f"worker {number}: {where}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    _watch_parent(int(info["parent"]))
    from ..core.hub import Hub

    with Hub() as hub:
        try:
            TrialRunner(spec, hub, info, device).loop()
        except KeyboardInterrupt:
            return 130
        except AssetHubError as err:
            print(f"error: worker {number}: {err}", file=sys.stderr, flush=True)
            return 2
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    """Stop (as on SIGTERM) when the sweep that started this worker is gone, even by SIGKILL."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


@contextlib.contextmanager
def _heartbeat(storage: Any, trial_id: int, interval: float) -> Iterator[None]:
    """Optuna heartbeats for the running trial, from a thread (the trial holds the main one)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a missed beat is only late, not fatal
                storage.record_heartbeat(trial_id)

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class TrialRunner:
    def __init__(self, spec: SweepSpec, hub: Any, info: dict[str, Any], device: str) -> None:
        self.spec = spec
        self.hub = hub
        self.info = info
        self.device = device
        self.worker = int(info["worker"])
        self.study = open_study(spec, info["storage"], self.worker, create=False)
        self.storage = self.study._storage
        self.inputs = {name: Path(path) for name, path in info["inputs"].items()}
        self.objective = _load_function(spec) if spec.objective.kind == "function" else None
        self._stale_checked = -math.inf

    def loop(self) -> None:
        while (trial := self.claim()) is not None:
            self.run(trial)

    def claim(self) -> optuna.trial.Trial | None:
        """The next trial within the budget; None once every counted trial has finished."""
        budget = self.spec.budget
        while True:
            self._fail_stale()
            state = budget_state(self.study)
            if state.done + state.active >= budget and not state.waiting:
                if state.active == 0:
                    return None
                time.sleep(POLL_SECONDS)  # a running trial may still die and need its retry
                continue
            trial = self.study.ask()
            if within_budget(self.study, trial.number, budget):
                return trial
            trial.set_user_attr(OVER_BUDGET, True)
            self.study.tell(trial, state=TrialState.FAIL)

    def _fail_stale(self) -> None:
        """Fail (and queue the retry of) trials whose worker stopped beating. Once per
        heartbeat interval is enough: a trial goes stale only after three missed beats."""
        now = time.monotonic()
        if now - self._stale_checked >= self.spec.heartbeat:
            fail_stale_trials(self.study)
            self._stale_checked = now

    def run(self, trial: optuna.trial.Trial) -> None:
        for param in self.spec.space.values():
            suggest(trial, param)
        frozen = self.storage.get_trial(trial._trial_id)
        if self.spec.algorithm == "pbt" and "member" not in frozen.user_attrs:
            earlier = [
                t for t in counted(self.study.get_trials(deepcopy=False)) if t.number < trial.number
            ]
            trial.set_user_attr("member", len(earlier))
        self._continue_branch(frozen)
        ctx = TrialContext(
            self.spec, self.hub, trial, self.inputs, self.device, self.worker, frozen
        )
        try:
            with _heartbeat(self.storage, trial._trial_id, self.spec.heartbeat):
                value = self._objective(ctx)
        except KeyboardInterrupt:
            self._fail_for_retry(trial)
            raise
        except optuna.TrialPruned:
            self.study.tell(trial, state=TrialState.PRUNED)
            return
        except Exception as err:  # the trial's own error: recorded, the sweep goes on
            message = (
                str(err)
                if isinstance(err, (TrialFailed, AssetHubError))
                else f"{type(err).__name__}: {err}"
            )
            trial.set_user_attr("error", message[:2000])
            print(f"trial {ctx.trial} failed: {message}", file=sys.stderr, flush=True)
            if not isinstance(err, (TrialFailed, AssetHubError)):
                traceback.print_exc()
            self.study.tell(trial, state=TrialState.FAIL)
            return
        if ctx.pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, value)

    def _continue_branch(self, frozen: optuna.trial.FrozenTrial) -> None:
        """A retried trial starts from the checkpoints of the trial it retries."""
        history = RetryHeartbeatStaleTrialCallback.retry_history(frozen)
        if not history:
            return
        before = self.spec.branch(trial_name(history[-1]))
        with contextlib.suppress(NotFound, AlreadyExists):
            self.hub.branch_create(
                f"{self.spec.model}:{before}", self.spec.branch(trial_name(frozen.number))
            )

    def _fail_for_retry(self, trial: optuna.trial.Trial) -> None:
        """Interrupted: fail the trial and queue its retry now, rather than after the grace period."""
        with contextlib.suppress(Exception):
            if self.storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                frozen = self.storage.get_trial(trial._trial_id)
                RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(self.study, frozen)

    def _objective(self, ctx: TrialContext) -> float:
        """Run the function or notebook until it ends without an exploit; its value."""
        result: Any = None
        while True:
            if self.objective is not None:
                try:
                    result = self.objective(ctx)
                except Exploited:
                    continue
            elif self._notebook(ctx):
                continue
            break
        if result is None:
            if ctx.last is None:
                raise TrialFailed(
                    f"objective {self.spec.objective} returned nothing and reported nothing."
                )
            return ctx.last[1]
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            raise TrialFailed(
                f"objective {self.spec.objective} returned {type(result).__name__}, not a number."
            )
        return float(result)

    def _notebook(self, ctx: TrialContext) -> bool:
        """One papermill run of the notebook; True when PBT exploited in it (run it again).
        Its reports are read back from the storage, where the notebook's context wrote them."""
        folder = os.path.join(self.info["work"], "trials", ctx.trial)
        os.makedirs(os.path.join(folder, "work"), exist_ok=True)
        executed = os.path.join(folder, os.path.basename(self.spec.objective.target))
        params_file = os.path.join(folder, "parameters.json")
        with open(params_file, "w", encoding="utf-8") as f:
            json.dump(ctx.params, f)
        before = ctx.exploits
        notebook = os.path.join(self.spec.root, self.spec.objective.target)
        command = papermill_command(notebook, executed, params_file, os.path.join(folder, "work"))
        env = {
            **os.environ,
            ENV: json.dumps(self._notebook_env(ctx)),
            "ASSETHUB_NOTEBOOK": notebook,
        }
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (self.spec.root, env.get("PYTHONPATH", "")) if p
        )
        with open(os.path.join(folder, "papermill.log"), "ab") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            try:
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        ctx.load(ctx.read())  # what the notebook's own context reported
        if ctx.exploits > before:
            return True
        if code != 0 and not ctx.pruned:
            error = notebook_error(executed) or f"papermill exited with {code}"
            raise TrialFailed(f"notebook {self.spec.objective.target} failed: {error}.")
        return False

    def _notebook_env(self, ctx: TrialContext) -> dict[str, Any]:
        return {
            "file": self.spec.file,
            "root": self.spec.root,
            "storage": self.info["storage"],
            "worker": self.worker,
            "trial_id": ctx.optuna_trial._trial_id,
            "device": self.device,
            "inputs": self.info["inputs"],
            "pins": self.info["pins"],
            "trials": self.spec.trials,
        }


def _load_function(spec: SweepSpec) -> Callable[[TrialContext], Any]:
    """The objective function, imported in this worker (never in the sweep's own process)."""
    objective = spec.objective
    if spec.root not in sys.path:
        sys.path.insert(0, spec.root)
    try:
        if objective.target.endswith(".py"):
            path = os.path.join(spec.root, objective.target)
            module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(objective.target)
    except Exception as err:
        raise InvalidInput(
            f"cannot load objective {objective}: {type(err).__name__}: {err}."
        ) from None
    function = getattr(module, objective.function, None)
    if not callable(function):
        raise InvalidInput(
            f"objective {objective}: {objective.target} has no function {objective.function!r}."
        )
    return function  # type: ignore[no-any-return]


if __name__ == "__main__":
    sys.exit(main())
