"""Running a sweep: prepare the hub, start worker processes on their GPUs, watch, finish.

The sweep's own process never imports the objective (nor Paddle or PyTorch): it resolves
the inputs once (so every trial reads the same commits), checks them out, creates the study,
starts ``workers`` processes with ``CUDA_VISIBLE_DEVICES`` set per worker, shows progress
from the storage, and at the end tags the best trial's checkpoint (and merges it into
``main`` when asked). Stopping it (Ctrl-C, SIGTERM, even SIGKILL) stops its workers, which
queue their running trials for a retry; the same command resumes from the storage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import AlreadyExists, AssetHubError, InvalidInput, NotFound
from ..core.progress import ProgressFactory, no_progress
from .spec import SweepSpec, load_sweep
from .study import (
    budget_state,
    default_storage,
    open_storage,
    open_study,
    status_rows,
    storage_url,
    trial_name,
)
from .worker import POLL_SECONDS, WORKER_ENV

if TYPE_CHECKING:
    import optuna

    from ..core.hub import Hub

Echo = Callable[[str], None]


class SweepFailed(AssetHubError):
    """Workers could not run the sweep (an objective that does not load, say)."""

    code = "sweep_failed"


@dataclass
class SweepResult:
    study: str
    model: str
    storage: str
    finished: int
    budget: int
    best: dict[str, Any] | None = None  # number, trial, value, params, commit, tag, merged
    trials: list[dict[str, Any]] = field(default_factory=list)


def gpu_ids() -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi -L``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = [line for line in listed.stdout.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(lines))] if listed.returncode == 0 else []


def gpu_slots(gpus: list[str], per_trial: float, workers: int) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` for each worker: "" (CPU) when no GPU is asked for or found;
    1/k of a GPU packs k workers on each; n GPUs give each worker n of its own."""
    if per_trial == 0 or not gpus:
        return [""] * workers
    if per_trial < 1:
        share = round(1 / per_trial)
        pool = [g for _ in range(share) for g in gpus]  # spread over GPUs before packing
    else:
        n = int(per_trial)
        pool = [",".join(gpus[i : i + n]) for i in range(0, len(gpus) - n + 1, n)]
    if not pool:
        raise InvalidInput(
            f"gpus_per_trial is {per_trial:g} but only {len(gpus)} GPU(s) are visible."
        )
    return pool[:workers]


def run_sweep(
    sweep: str | SweepSpec,
    *,
    workers: int | None = None,
    trials: int | None = None,
    hub: Hub | None = None,
    progress: ProgressFactory = no_progress,
    echo: Echo | None = None,
    root: str | None = None,
) -> SweepResult:
    """Run (or resume) the sweep in file ``sweep``; returns its trials and the best one."""
    spec = sweep if isinstance(sweep, SweepSpec) else load_sweep(sweep, root)
    if workers is not None or trials is not None:
        if (workers is not None and workers < 1) or (trials is not None and trials < 1):
            raise InvalidInput("--workers and --trials must be at least 1.")
        spec = dataclasses.replace(
            spec, workers=workers or spec.workers, trials=trials or spec.trials
        )
    say = echo or (lambda line: print(line, file=sys.stderr))
    if hub is None:
        from ..core.hub import Hub

        with Hub() as opened:
            return Sweep(spec, opened, say).run(progress)
    return Sweep(spec, hub, say).run(progress)


class Sweep:
    def __init__(self, spec: SweepSpec, hub: Hub, echo: Echo) -> None:
        self.spec = spec
        self.hub = hub
        self.echo = echo
        self.url = storage_url(spec, hub.config)
        self.work = os.path.join(spec.root, ".assethub", "sweeps", spec.study)
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self, progress: ProgressFactory) -> SweepResult:
        pins, inputs = self._prepare()
        study = open_study(self.spec, self.url)
        for key, value in self._describe().items():
            study.set_user_attr(key, value)
        slots = self._slots()
        try:
            self._start(slots, pins, inputs)
            self._watch(study, progress)
        finally:
            self._stop()
        failed = [p.returncode for p in self.procs if p.returncode not in (0, None)]
        done = budget_state(study).done
        if failed and done < self.spec.budget:
            raise SweepFailed(
                f"the sweep's workers stopped (exit {failed[0]}) with {done} of {self.spec.budget} trials done; their error is above."
            )
        result = self._result(study, done)
        if done >= self.spec.budget:
            result.best = self._finish(study)
        return result

    def _describe(self) -> dict[str, Any]:
        """What the panel and ``sweep status`` read from the study."""
        s = self.spec
        return {
            "model": str(s.model), "metric": s.metric, "algorithm": s.algorithm, "sampler": s.sampler,
            "budget": s.budget, "steps": s.steps, "file": s.file,
        }  # fmt: skip

    def _prepare(self) -> tuple[dict[str, str], dict[str, str]]:
        """The model (created if missing), and each input resolved once and checked out."""
        with contextlib.suppress(AlreadyExists):
            self.hub.create(str(self.spec.model), f"sweep {self.spec.study}")
        self.hub.describe(str(self.spec.model))  # refuses early without 'read' on it
        pins, inputs = {}, {}
        for name, ref in self.spec.inputs.items():
            resolved, commit = self.hub.resolve_commit(str(ref))
            pins[name] = f"{resolved.path}:{commit.id}"
            inputs[name] = os.path.join(self.work, "inputs", name)
            self.hub.checkout(pins[name], inputs[name], force=True)
        return pins, inputs

    def _slots(self) -> list[str]:
        gpus = gpu_ids() if self.spec.gpus_per_trial > 0 else []
        slots = gpu_slots(gpus, self.spec.gpus_per_trial, self.spec.workers)
        if self.spec.gpus_per_trial > 0 and not gpus:
            self.echo(
                f"sweep {self.spec.study}: no GPU found; {len(slots)} worker(s) run trials on the CPU."
            )
        elif len(slots) < self.spec.workers:
            self.echo(f"sweep {self.spec.study}: {len(slots)} worker(s), as many as the GPUs hold.")
        return slots

    def _start(self, slots: list[str], pins: dict[str, str], inputs: dict[str, str]) -> None:
        os.makedirs(self.work, exist_ok=True)
        for number, devices in enumerate(slots):
            info = {
                "file": self.spec.file, "root": self.spec.root, "storage": self.url, "worker": number,
                "pins": pins, "inputs": inputs, "work": self.work, "parent": os.getpid(),
                "trials": self.spec.trials,
            }  # fmt: skip
            env = {**os.environ, WORKER_ENV: json.dumps(info), "CUDA_VISIBLE_DEVICES": devices}
            env["ASSETHUB_HOME"] = self.hub.config.home
            env["ASSETHUB_USER"] = self.hub.user
            command = [sys.executable, "-m", "assethub_ext.sweeps.worker"]
            self.procs.append(subprocess.Popen(command, env=env, cwd=self.spec.root))

    def _watch(self, study: optuna.Study, progress: ProgressFactory) -> None:
        """Progress from the storage until every worker has exited."""
        bar = progress(f"sweep {self.spec.study}", self.spec.budget, "trial")
        shown = 0
        try:
            while True:
                running = any(p.poll() is None for p in self.procs)
                done = budget_state(study).done
                bar.update(max(0, min(done, self.spec.budget) - shown))
                shown = max(shown, min(done, self.spec.budget))
                if not running:
                    return
                time.sleep(POLL_SECONDS)
        finally:
            bar.close()

    def _stop(self) -> None:
        """Ask the workers still running to stop (they queue their trials for a retry), then wait."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _result(self, study: optuna.Study, done: int) -> SweepResult:
        return SweepResult(
            self.spec.study, str(self.spec.model), self.url, done, self.spec.budget,
            trials=status_rows(study),
        )  # fmt: skip

    def _finish(self, study: optuna.Study) -> dict[str, Any] | None:
        """Tag the best trial's last checkpoint; merge it into ``main`` when asked."""
        try:
            best = study.best_trial
        except ValueError:
            self.echo(f"sweep {self.spec.study}: no trial completed; nothing to tag.")
            return None
        name = trial_name(best.number)
        model = str(self.spec.model)
        try:
            _, commit = self.hub.resolve_commit(f"{model}:{self.spec.branch(name)}")
        except NotFound:
            self.echo(
                f"sweep {self.spec.study}: best trial {name} saved no checkpoint; nothing to tag."
            )
            return None
        info = {"number": best.number, "trial": name, "value": best.value, "commit": commit.id}
        info["tag"] = self._tag(model, commit.id)
        info["merged"] = self._merge(model, name) if self.spec.merge else None
        return info

    def _tag(self, model: str, commit: str) -> str | None:
        tag = self.spec.best_tag
        try:
            self.hub.tag(f"{model}:{commit}", tag)
        except AlreadyExists:
            _, tagged = self.hub.resolve_commit(f"{model}:{tag}")
            if tagged.id != commit:
                self.echo(
                    f"sweep {self.spec.study}: tag {tag!r} already names {tagged.id[:12]}; tags never move."
                )
                return None
        return tag

    def _merge(self, model: str, trial: str) -> str:
        """Into ``main``; a model without one gets it at the best checkpoint."""
        try:
            return self.hub.merge(model, self.spec.branch(trial), into="main").commit_id
        except NotFound:
            return self.hub.branch_create(f"{model}:{self.spec.branch(trial)}", "main")


def sweep_status(
    sweep: str | None = None, *, study: str | None = None, storage: str | None = None
) -> dict[str, Any]:
    """The trials of a sweep, named by its file or by study name (and storage), as plain data."""
    import optuna

    from ..core.config import HubConfig

    config = HubConfig.from_env()
    if sweep is not None:
        spec = load_sweep(sweep)
        name, url = spec.study, storage_url(spec, config)
    elif study is not None:
        name, url = study, storage or default_storage(config)
    else:
        raise InvalidInput("name the sweep: give its file, or --study NAME.")
    try:
        loaded = optuna.load_study(study_name=name, storage=open_storage(url, 10))
    except KeyError:
        raise NotFound(
            f"no study {name!r} in {url.split('://')[0]} storage; run 'assethub sweep FILE.yaml' first."
        ) from None
    attrs = loaded.user_attrs
    return {
        "study": name, "model": attrs.get("model"), "metric": attrs.get("metric"),
        "direction": loaded.direction.name.lower(), "algorithm": attrs.get("algorithm"),
        "budget": attrs.get("budget"), "trials": status_rows(loaded),
    }  # fmt: skip
