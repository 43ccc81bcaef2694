"""Population Based Training on Optuna trials: truncation selection, exploit, explore.

Each population member is one trial; what the members know of each other lives in the
Optuna storage as user attributes (``last``: the latest reported value; ``ckpts``: the
checkpoints of the member's current line, by step), so members in other processes or on
other machines take part, and a killed sweep resumes with nothing lost. The decision is
asynchronous (as in Ray Tune's default): a member at a boundary compares itself with the
latest values of the others. A donor must have a checkpoint at or before the loser's
step — a member is never exploited into from nothing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from .spec import ParamSpec, PbtSpec
from .study import counted


@dataclass(frozen=True)
class Donor:
    trial: int
    step: int
    commit: str
    value: float
    params: dict[str, Any]


def choose_donor(
    trials: list[FrozenTrial],
    me: int,
    my_value: float,
    step: int,
    pbt: PbtSpec,
    maximize: bool,
    rng: random.Random,
) -> Donor | None:
    """A donor from the top quantile when member ``me`` is in the bottom one, else None."""
    latest = {
        t.number: t.user_attrs["last"]["value"] for t in counted(trials) if "last" in t.user_attrs
    }
    latest[me] = my_value
    if len(latest) < 2:
        return None
    ranked = sorted(latest, key=lambda n: latest[n], reverse=maximize)
    cut = min(max(1, math.ceil(len(ranked) * pbt.quantile)), len(ranked) // 2)
    if me not in ranked[-cut:]:
        return None
    by_number = {t.number: t for t in trials}
    donors = [d for n in ranked[:cut] if (d := _checkpoint(by_number[n], step)) is not None]
    return rng.choice(donors) if donors else None


def _checkpoint(trial: FrozenTrial, step: int) -> Donor | None:
    """The trial's newest checkpoint at or before ``step``."""
    ckpts = {int(s): c for s, c in (trial.user_attrs.get("ckpts") or {}).items() if int(s) <= step}
    if not ckpts:
        return None
    at = max(ckpts)
    c = ckpts[at]
    return Donor(trial.number, at, c["commit"], c["value"], dict(c["params"]))


def explore(
    params: dict[str, Any], space: dict[str, ParamSpec], pbt: PbtSpec, rng: random.Random
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Perturb each hyperparameter by a factor, or resample it from its prior; returns the new
    values and, for the commit's meta, where each came from."""
    new = dict(params)
    changes = {}
    for name, param in space.items():
        old = params[name]
        if rng.random() < pbt.resample_probability:
            value, how = resample(param, rng), "resample"
        else:
            value, how = perturb(param, old, rng.choice(pbt.factors)), "perturb"
        new[name] = value
        changes[name] = {"from": old, "to": value, "how": how}
    return new, changes


def resample(param: ParamSpec, rng: random.Random) -> Any:
    if param.type == "categorical":
        return rng.choice(param.choices)
    assert param.low is not None and param.high is not None
    if param.type == "int":
        return rng.randint(int(param.low), int(param.high))
    if param.log:
        return math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    return _on_grid(param, rng.uniform(param.low, param.high))


def perturb(param: ParamSpec, old: Any, factor: float) -> Any:
    """Multiply a number (an int moves at least one step); a categorical moves to the
    neighbouring choice, up for a factor above 1 and down below it."""
    up = factor > 1
    if param.type == "categorical":
        index = param.choices.index(old) if old in param.choices else 0
        return param.choices[min(max(index + (1 if up else -1), 0), len(param.choices) - 1)]
    assert param.low is not None and param.high is not None
    if param.type == "int":
        value = round(old * factor)
        if value == old:
            value = old + (1 if up else -1) * int(param.step or 1)
        return int(min(max(value, param.low), param.high))
    return _on_grid(param, min(max(old * factor, param.low), param.high))


def _on_grid(param: ParamSpec, value: float) -> float:
    if param.step is None or param.low is None:
        return value
    return param.low + round((value - param.low) / param.step) * param.step
