"""``TrialContext``: what a trial function or notebook gets (see ``SWEEP-CONTRACT``).

Reports go to Optuna's storage; checkpoints are commits on ``sweeps/<study>/<trial>`` of
the sweep's model, made through the ``Hub`` with the trial's params, its metrics,
``meta.sweep`` and the dataset inputs as lineage. Under PBT, ``report`` at an interval
boundary may exploit (a commit of the donor's tree, no bytes copied) and then raises
``Exploited``, which the worker catches to start the function again with the new params.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInput, NotFound
from ..core.names import parse_ref
from ..core.scan import CHECKOUT_MARKER
from . import pbt
from .spec import SweepSpec, load_sweep
from .study import current_params, open_study, trial_name

if TYPE_CHECKING:
    import optuna

    from ..core.hub import Hub

ENV = "ASSETHUB_SWEEP_TRIAL"
"""The variable a worker sets for a notebook trial: JSON, read back by ``trial_context()``."""


class Exploited(BaseException):
    """PBT copied a better member into this one: start the function again (not an error,
    and a BaseException so that a trial's ``except Exception`` does not swallow it)."""


class TrialContext:
    def __init__(
        self,
        spec: SweepSpec,
        hub: Hub,
        trial: optuna.trial.Trial,
        inputs: dict[str, Path],
        device: str,
        worker: int = 0,
        frozen: optuna.trial.FrozenTrial | None = None,
    ) -> None:
        self.spec = spec
        self.hub = hub
        self.optuna_trial = trial
        self.number = trial.number
        self.study = spec.study
        self.trial = trial_name(trial.number)
        self.device = device
        self.max_steps = spec.steps
        self.inputs = inputs
        self.params: dict[str, Any] = {}
        self.last: tuple[int, float, dict[str, float]] | None = None
        self.pruned = False
        self.exploits = 0
        self._ckpts: dict[str, Any] = {}
        self.load(frozen or self.read())
        self._rng = random.Random(None if spec.seed is None else spec.seed * 7919 + trial.number)
        self._code: dict[str, Any] | None = None
        self._worker = worker

    @property
    def branch(self) -> str:
        return self.spec.branch(self.trial)

    def read(self) -> optuna.trial.FrozenTrial:
        return self.optuna_trial.study._storage.get_trial(self.optuna_trial._trial_id)

    def load(self, frozen: optuna.trial.FrozenTrial) -> None:
        """Take what the storage knows of this trial. Read once: while the trial runs, its
        context is the only writer of these attributes, so the copies kept here stay true
        (a notebook trial's worker loads them again after each papermill run)."""
        self.params = current_params(frozen)
        self.last = _last(frozen)
        self.pruned = bool(frozen.user_attrs.get("pruned"))
        self.exploits = int(frozen.user_attrs.get("exploits", 0))
        self._ckpts = dict(frozen.user_attrs.get("ckpts") or {})

    def _set(self, key: str, value: Any) -> None:
        self.optuna_trial.set_user_attr(key, value)

    # -- reporting -------------------------------------------------------------------------
    def report(self, step: int, value: float, **metrics: float) -> None:
        """Record the objective at ``step`` (and other metrics, kept for the checkpoint)."""
        if (
            not isinstance(step, int)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise InvalidInput("report(step, value) needs an integer step and a finite number.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a step reported again after an exploit is kept once
            self.optuna_trial.report(float(value), step)
        self.last = (step, float(value), {k: float(v) for k, v in metrics.items()})
        interval = self.spec.pbt.interval
        if self.spec.algorithm == "pbt" and step % interval == 0 and step < self.max_steps:
            self._maybe_exploit(step, float(value))  # on exploit, records the donor's `last`
        self._set("last", {"step": step, "value": float(value)})

    def should_prune(self) -> bool:
        """Optuna's pruner's verdict; PBT never prunes (it exploits instead)."""
        prune = self.spec.algorithm != "pbt" and bool(self.optuna_trial.should_prune())
        if prune:  # a trial that stops now is recorded as pruned, whether it returns or raises
            self.pruned = True
            self._set("pruned", True)
        return prune

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, folder: str | os.PathLike[str], step: int) -> str:
        """Commit ``folder`` to this trial's branch; returns the commit id."""
        metrics = self._metrics_at(step)
        commit = self.hub.commit(
            f"{self.spec.model}:{self.branch}",
            os.fspath(folder),
            message=f"{self.study} {self.trial} step {step}",
            params=self.params,
            metrics=metrics,
            metadata={"sweep": self._meta(step, "checkpoint")},
            inputs=self._inputs(),
            lineage_extra=self._lineage(),
            create_branch=True,
        )
        self._code = self._code or commit.lineage.get("code")
        if self.spec.algorithm == "pbt":
            self._remember(step, commit.id, metrics.get(self.spec.metric))
        return commit.id

    def restore_checkpoint(self, folder: str | os.PathLike[str]) -> int | None:
        """Check the head of this trial's branch out into ``folder``; its step, or None."""
        try:
            _, commit = self.hub.resolve_commit(f"{self.spec.model}:{self.branch}")
        except NotFound:
            return None
        _restore(self.hub, f"{self.spec.model}:{commit.id}", Path(folder))
        return int(commit.meta.get("sweep", {}).get("step", 0))

    def _metrics_at(self, step: int) -> dict[str, float]:
        if self.last is None or self.last[0] != step:
            return {}
        return {self.spec.metric: self.last[1], **self.last[2]}

    def _meta(self, step: int, event: str, **extra: Any) -> dict[str, Any]:
        return {
            "study": self.study,
            "trial": self.trial,
            "step": step,
            "algorithm": self.spec.algorithm,
            "event": event,
            **extra,
        }

    def _inputs(self) -> list[str]:
        return [str(ref) for ref in self.spec.inputs.values()]

    def _lineage(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "caller": {"kind": self.spec.objective.kind, "path": str(self.spec.objective)},
            "sweep": {"study": self.study, "trial": self.trial, "file": self.spec.file},
        }
        if self._code is not None:  # captured by this trial's first commit; git is not asked again
            extra["code"] = self._code
        return extra

    def _remember(self, step: int, commit: str, value: float | None) -> None:
        self._ckpts[str(step)] = {"commit": commit, "value": value, "params": self.params}
        self._set("ckpts", dict(self._ckpts))

    # -- PBT -------------------------------------------------------------------------------
    def _maybe_exploit(self, step: int, value: float) -> None:
        trials = self.optuna_trial.study.get_trials(deepcopy=False)
        maximize = self.spec.direction == "maximize"
        donor = pbt.choose_donor(
            trials, self.number, value, step, self.spec.pbt, maximize, self._rng
        )
        if donor is None:
            return
        params, changes = pbt.explore(donor.params, self.spec.space, self.spec.pbt, self._rng)
        source = {"trial": trial_name(donor.trial), "commit": donor.commit}
        commit = self.hub.commit_tree(
            f"{self.spec.model}:{self.branch}",
            f"{self.spec.model}:{donor.commit}",
            message=f"{self.study} {self.trial} exploits {source['trial']} at step {donor.step}",
            params=params,
            metrics={self.spec.metric: donor.value} if donor.value is not None else {},
            metadata={"sweep": self._meta(donor.step, "exploit", source=source, explore=changes)},
            inputs=self._inputs(),
            lineage_extra=self._lineage(),
        )
        self._code = self._code or commit.lineage.get("code")
        self.params, self._ckpts = params, {}
        self._remember(donor.step, commit.id, donor.value)
        self.last = (donor.step, donor.value, {})
        self.exploits += 1
        self._set("params", params)
        self._set("last", {"step": donor.step, "value": donor.value})
        self._set("exploits", self.exploits)
        raise Exploited(commit.id)


def _restore(hub: Hub, ref: str, folder: Path) -> None:
    """Check ``ref`` out into ``folder``, replacing the files it names and leaving the rest.

    A trial restarted after an exploit restores into the folder it has been writing to,
    which a checkout refuses (it holds files but no earlier checkout), so the files land
    in a fresh folder beside it and are then renamed into place. They are copies, not
    links to the store: the trial overwrites them in place.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=folder.parent))
    try:
        hub.checkout(ref, str(staging), link="copy")
        for path in staging.rglob("*"):
            if path.is_file() and path.name != CHECKOUT_MARKER:
                target = folder / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def worker_spec(info: dict[str, Any]) -> SweepSpec:
    """The sweep file as the sweep read it: its budget (``--trials``) and its inputs as
    resolved when it started (commits, not refs that may move meanwhile)."""
    pins = {name: parse_ref(ref) for name, ref in info["pins"].items()}
    spec = load_sweep(info["file"], info["root"])
    return dataclasses.replace(spec, inputs=pins, trials=int(info["trials"]))


def _last(trial: optuna.trial.FrozenTrial) -> tuple[int, float, dict[str, float]] | None:
    last = trial.user_attrs.get("last")
    return (int(last["step"]), float(last["value"]), {}) if last else None


def trial_context() -> TrialContext:
    """The context of the trial this notebook runs as (the worker that started it set it up)."""
    raw = os.environ.get(ENV)
    if not raw:
        raise InvalidInput("trial_context() works only in a notebook started by 'assethub sweep'.")
    info = json.loads(raw)
    spec = worker_spec(info)
    study = open_study(spec, info["storage"], info["worker"], create=False)
    from optuna.trial import Trial

    from ..core.hub import Hub

    inputs = {name: Path(path) for name, path in info["inputs"].items()}
    return TrialContext(
        spec, Hub(), Trial(study, info["trial_id"]), inputs, info["device"], info["worker"]
    )
