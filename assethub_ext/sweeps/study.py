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

import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from .spec import ParamSpec, SweepSpec

if TYPE_CHECKING:
    from ..core.config import HubConfig

SQLITE_BUSY_SECONDS = 120
SCHEMA_ATTEMPTS = 3
MAX_RETRIES = 2  # a trial whose worker died is tried this many more times
OVER_BUDGET = "over_budget"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

optuna.logging.set_verbosity(optuna.logging.WARNING)
# heartbeats and retries are marked experimental, and meant for ``optimize``, not ask/tell:
# both are deliberate here, so the sweep's output carries no warning about them
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def storage_url(spec: SweepSpec, config: HubConfig) -> str:
    """The sweep's own storage, else one SQLite file under the hub's home."""
    return spec.storage or default_storage(config)


def default_storage(config: HubConfig) -> str:
    return f"sqlite:///{os.path.join(config.home, 'sweeps.sqlite')}"


def open_storage(url: str, heartbeat: float) -> RDBStorage:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
    interval = max(1, round(heartbeat))
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            storage = RDBStorage(
                url,
                engine_kwargs=kwargs,
                heartbeat_interval=interval,
                grace_period=3 * interval,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                    max_retry=MAX_RETRIES
                ),
            )
            break
        except sqlalchemy.exc.DatabaseError as err:
            # processes opening a new storage at once (two sweeps on a fresh SQLite file)
            # race to create its schema; the losers find it made on their next try
            if attempt == SCHEMA_ATTEMPTS or not _schema_race(err):
                raise
    if storage.engine.name == "sqlite":
        _write_ahead(storage.engine)
    return storage


def _schema_race(err: sqlalchemy.exc.DatabaseError) -> bool:
    """Whether ``err`` is another process having created the same table or row first."""
    return isinstance(err, sqlalchemy.exc.IntegrityError) or "already exists" in str(err)


def _write_ahead(engine: sqlalchemy.engine.Engine) -> None:
    """SQLite in write-ahead-log mode, synced at checkpoints rather than at every commit.

    A trial writes the storage a few times per step (params, reports, user attributes);
    with SQLite's default rollback journal each of those commits waits for an fsync, which
    made the scheduler's overhead ~300 ms per trial. In WAL mode a commit is an append:
    a killed process loses nothing committed, only a power cut or an OS crash may lose the
    last commits (never corrupting the file), and readers no longer wait for the writer.
    The file must be on a local disk (as SQLite requires for any shared use).
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def pragmas(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

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


def retried(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a later trial retries."""
    return {
        history[-1]
        for t in trials
        if (history := RetryHeartbeatStaleTrialCallback.retry_history(t))
    }


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
