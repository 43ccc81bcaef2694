"""The Optuna side of a sweep: storage, samplers, pruners, the budget, and the trials table.

Storage: Optuna's RDB storage, because only it has heartbeats, and heartbeats are how a
trial whose worker died is found and retried (``RetryHeartbeatStaleTrialCallback``);
JournalStorage has none. On SQLite (the default, under the hub's home) several worker
processes share one file: each connection waits up to ``SQLITE_BUSY_SECONDS`` for the
write lock instead of failing with "database is locked" — Optuna's writes are short, so
queueing is cheap. PostgreSQL (``storage: postgresql://…``) lets workers on several
machines join one study.

The budget is counted in the storage, so it holds across resumptions and workers: every
trial counts except a failed one that was retried (its retry counts instead) and one that
was turned away because the budget was already spent when it was asked for.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from ..core.sqlite_wal import enable_wal
from .spec import ParamSpec, SweepSpec

if TYPE_CHECKING:
    from ..core.config import HubConfig

SQLITE_BUSY_SECONDS = 120
SCHEMA_ATTEMPTS = 10
SCHEMA_RETRY_PAUSE_S = 0.05
MAX_RETRIES = 2  # a trial whose worker died is tried this many more times
OVER_BUDGET = "over_budget"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Without Optuna's warnings about what the sweeps use on purpose: heartbeats and
    retries are marked experimental, and heartbeats are meant for ``optimize``, not ask/tell.
    Scoped, not set at import: filters set while a module is imported do not outlive a
    caller's ``catch_warnings`` (pytest's collection is one), and the user's own Optuna
    code in the same kernel keeps its warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


def storage_url(spec: SweepSpec, config: HubConfig) -> str:
    """The sweep's own storage, else one SQLite file under the hub's home."""
    return spec.storage or default_storage(config)


def default_storage(config: HubConfig) -> str:
    return f"sqlite:///{os.path.join(config.home, 'sweeps.sqlite')}"


def open_storage(url: str, heartbeat: float) -> RDBStorage:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
    storage = _rdb_storage(url, kwargs, max(1, round(heartbeat)))
    if storage.engine.name == "sqlite":
        _write_ahead(storage.engine)
    return storage


def _rdb_storage(url: str, engine_kwargs: dict[str, Any], interval: int) -> RDBStorage:
    """Optuna's RDB storage with heartbeats and retries. Processes that open a new storage
    at once (two sweeps on a fresh SQLite file) race to create its schema; the losers find
    it made on their next try."""
    attempt = 1
    while True:
        try:
            with quiet_optuna():
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=interval,
                    grace_period=3 * interval,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=MAX_RETRIES
                    ),
                )
        except sqlalchemy.exc.DatabaseError as err:
            if attempt == SCHEMA_ATTEMPTS or not _schema_race(err):
                raise
            time.sleep(SCHEMA_RETRY_PAUSE_S * attempt)  # let the winner finish its schema
            attempt += 1


def _schema_race(err: sqlalchemy.exc.DatabaseError) -> bool:
    """Whether ``err`` is another process having created the same table or row first."""
    return isinstance(err, sqlalchemy.exc.IntegrityError) or "already exists" in str(err)


def _write_ahead(engine: sqlalchemy.engine.Engine) -> None:
    """SQLite in write-ahead-log mode, synced at checkpoints rather than at every commit.

    A trial writes the storage a few times per step (params, reports, user attributes);
    with SQLite's default rollback journal each of those commits waits for an fsync, the
    larger part of what the scheduler cost per trial. In WAL mode a commit is an append:
    a killed process loses nothing committed, only a power cut or an OS crash may lose the
    last commits (never corrupting the file), and readers no longer wait for the writer.
    The file must be on a local disk (as SQLite requires for any shared use).
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def pragmas(connection: Any, record: Any) -> None:
        enable_wal(connection, synchronous="NORMAL")

    engine.dispose()  # connections opened while Optuna created its tables predate the pragmas


def suggest(trial: optuna.trial.Trial, param: ParamSpec) -> Any:
    """Ask Optuna for ``param``'s value (a retried or enqueued trial gets its fixed one)."""
    if param.type == "categorical":
        return trial.suggest_categorical(param.name, list(param.choices))
    assert param.low is not None and param.high is not None
    if param.type == "int":
        step = int(param.step or 1)
        return trial.suggest_int(
            param.name, int(param.low), int(param.high), step=step, log=param.log
        )
    return trial.suggest_float(param.name, param.low, param.high, step=param.step, log=param.log)


def make_sampler(spec: SweepSpec, worker: int) -> optuna.samplers.BaseSampler:
    """The sweep's sampler; each worker seeds its own, so workers do not propose the same trial."""
    seed = None if spec.seed is None else spec.seed + worker
    if spec.algorithm == "pbt" or spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "grid":
        grid = {name: p.grid() for name, p in spec.space.items()}
        return optuna.samplers.GridSampler(grid, seed=seed)
    if spec.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if spec.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if spec.algorithm == "pbt" or spec.pruner == "none":
        return optuna.pruners.NopPruner()
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if spec.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=spec.steps)


def open_study(spec: SweepSpec, url: str, worker: int = 0, create: bool = True) -> optuna.Study:
    storage = open_storage(url, spec.heartbeat)
    sampler, pruner = make_sampler(spec, worker), make_pruner(spec)
    if create:
        return optuna.create_study(
            study_name=spec.study,
            storage=storage,
            direction=spec.direction,  # type: ignore[arg-type]
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
    return optuna.load_study(study_name=spec.study, storage=storage, sampler=sampler, pruner=pruner)


def retry_of(trial: FrozenTrial) -> int | None:
    """The number of the failed trial that ``trial`` retries, if it is a retry."""
    with quiet_optuna():
        history = RetryHeartbeatStaleTrialCallback.retry_history(trial)
    return history[-1] if history else None


def retried(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a later trial retries."""
    return {number for t in trials if (number := retry_of(t)) is not None}


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that use up the budget (see the module's docstring)."""
    again = retried(trials)
    return [
        t
        for t in trials
        if t.state != TrialState.FAIL
        or (t.number not in again and not t.user_attrs.get(OVER_BUDGET))
    ]


@dataclass(frozen=True)
class Budget:
    """Where the budget stands, from one read of the trials."""

    done: int  # counted trials finished
    active: int  # counted trials running or waiting
    waiting: bool  # a trial is queued (a retry, or an enqueued one)


def budget_state(study: optuna.Study) -> Budget:
    trials = counted(study.get_trials(deepcopy=False))
    done = sum(t.state in FINISHED for t in trials)
    waiting = any(t.state == TrialState.WAITING for t in trials)
    return Budget(done, len(trials) - done, waiting)


def within_budget(study: optuna.Study, number: int, budget: int) -> bool:
    """Whether trial ``number`` is one of the first ``budget`` counted trials (race-free:
    trial numbers are handed out by the storage, so two workers never both get the last one).
    Numbers start at 0 with no gaps, so a number below the budget is within it without asking."""
    if number < budget:
        return True
    earlier = [t for t in counted(study.get_trials(deepcopy=False)) if t.number < number]
    return len(earlier) < budget


def current_params(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's hyperparameters now: PBT's explore moves them away from Optuna's."""
    return dict(trial.user_attrs.get("params") or trial.params)


def trial_name(number: int) -> str:
    return f"t{number:04d}"


def status_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial, for ``sweep status`` and the panel (not those turned away because
    the budget was spent when they were asked for: they never ran)."""
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(OVER_BUDGET):
            continue
        values = trial.intermediate_values
        best_step = None
        if values:
            pick = max if maximize else min
            best_step = pick(values, key=lambda s: values[s])
        rows.append(
            {
                "number": trial.number,
                "trial": trial_name(trial.number),
                "state": trial.state.name.lower(),
                "params": current_params(trial),
                "value": trial.value,
                "best_step": best_step,
                "branch": f"sweeps/{study.study_name}/{trial_name(trial.number)}",
                "member": trial.user_attrs.get("member"),
                "error": trial.user_attrs.get("error"),
            }
        )
    return rows
