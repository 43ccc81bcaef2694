"""The sweep file: YAML read as nodes into a typed ``SweepSpec``, checked before anything runs.

It reuses the pipeline file's node reader, so every refusal is one sentence with its line.
Paths (the objective's ``.py`` file, a notebook) are relative to the project root (the
folder the command runs in) and must stay inside it; see ``SWEEP-CONTRACT`` for the keys.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from ..core.errors import InvalidInput
from ..core.names import AssetPath, AssetRef, parse_asset_path, parse_ref, quote
from ..pipeline.spec import _Reader, compose

STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
TOP_KEYS = (
    "study", "model", "objective", "notebook", "inputs", "metric", "space", "steps", "sampler",
    "pruner", "trials", "workers", "gpus_per_trial", "storage", "algorithm", "pbt", "best",
    "seed", "heartbeat", "description",
)  # fmt: skip
SAMPLERS = ("random", "grid", "tpe", "cmaes", "gp")
PRUNERS = ("none", "median", "successive_halving", "hyperband")
ALGORITHMS = ("optuna", "pbt")
PARAM_TYPES = ("float", "int", "categorical")
PARAM_KEYS = ("type", "low", "high", "log", "step", "choices")
PBT_KEYS = ("population", "interval", "quantile", "factors", "resample_probability")
BEST_KEYS = ("tag", "merge")
METRIC_KEYS = ("name", "direction")


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter of the search space."""

    name: str
    type: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def grid(self) -> list[Any]:
        """Every value the grid sampler tries (floats need a ``step``)."""
        if self.type == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        step = self.step if self.step is not None else 1  # ints step by 1; floats must say
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        values = [self.low + i * step for i in range(count)]
        return [int(v) for v in values] if self.type == "int" else values


@dataclass(frozen=True)
class Objective:
    """``module:function`` or ``file.py:function`` (run in the worker), or a notebook."""

    kind: str  # function | notebook
    target: str  # dotted module, or a project-relative .py / .ipynb path
    function: str = ""

    def __str__(self) -> str:
        return f"{self.target}:{self.function}" if self.function else self.target


@dataclass(frozen=True)
class PbtSpec:
    """Population Based Training; defaults are Ray Tune's, after the PBT paper."""

    population: int = 8
    interval: int = 4
    quantile: float = 0.25
    factors: tuple[float, ...] = (0.8, 1.2)
    resample_probability: float = 0.25


@dataclass(frozen=True)
class SweepSpec:
    file: str  # the sweep file, absolute
    root: str  # the project root, absolute and resolved
    study: str
    model: AssetPath
    objective: Objective
    space: dict[str, ParamSpec]
    metric: str = "value"
    direction: str = "maximize"
    inputs: dict[str, AssetRef] = field(default_factory=dict)
    steps: int = 1
    sampler: str = "tpe"
    pruner: str = "none"
    trials: int = 10
    workers: int = 1
    gpus_per_trial: float = 0.0
    storage: str | None = None
    algorithm: str = "optuna"
    pbt: PbtSpec = field(default_factory=PbtSpec)
    best_tag: str = ""
    merge: bool = False
    seed: int | None = None
    heartbeat: float = 10.0  # seconds between a running trial's heartbeats

    @property
    def budget(self) -> int:
        """Trials to finish: the population under PBT, at most the grid's size for grid search."""
        if self.algorithm == "pbt":
            return self.pbt.population
        if self.sampler == "grid":
            return min(self.trials, math.prod(len(p.grid()) for p in self.space.values()))
        return self.trials

    def branch(self, trial: str) -> str:
        return f"sweeps/{self.study}/{trial}"


class _SweepReader(_Reader):
    """The pipeline reader plus the numbers a sweep file holds."""

    def number(self, node: Node, what: str, *, integer: bool = False, minimum: float = 0) -> Any:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            kind = "an integer" if integer else "a number"
            raise self.fail(node, f"{what} must be {kind}.")
        if value < minimum:
            raise self.fail(node, f"{what} must be at least {minimum:g}.")
        return value

    def flag(self, node: Node, what: str) -> bool:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            raise self.fail(node, f"{what} must be true or false.")
        return value

    def choice(self, node: Node, what: str, allowed: tuple[str, ...]) -> str:
        text = self.string(node, what)
        if text not in allowed:
            raise self.fail(node, f"{what} {quote(text)} is not one of: {', '.join(allowed)}.")
        return text


def load_sweep(path: str, root: str | None = None) -> SweepSpec:
    """Read and check the sweep file at ``path``; ``root`` (default: the working folder) holds its code."""
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InvalidInput(f"sweep file {quote(path)} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInput(f"cannot read sweep file {quote(path)}: {err}.") from None
    return parse_sweep(text, os.path.abspath(path), os.path.realpath(root or os.getcwd()), name)


def parse_sweep(text: str, file: str, root: str, name: str = "sweep file") -> SweepSpec:
    reader = _SweepReader(name, root)
    document = compose(text, name)
    if document is None:
        raise InvalidInput(f"{name} is empty; declare at least study, model, objective and space.")
    top = reader.mapping(document, "the sweep file", TOP_KEYS)
    for key in ("study", "model", "space"):
        if key not in top:
            raise reader.fail(document, f"the sweep file needs {quote(key)}.")
    values: dict[str, Any] = {"file": file, "root": root}
    values["study"] = _study(reader, top["study"][1])
    values["model"] = _model(reader, top["model"][1])
    values["objective"] = _objective(reader, document, top)
    values["space"] = _space(reader, top["space"][1])
    _options(reader, top, values)
    spec = SweepSpec(**values)
    _check_combination(reader, top, spec)
    return spec


def _study(reader: _SweepReader, node: Node) -> str:
    text = reader.string(node, "study")
    if not STUDY_NAME.match(text):
        raise reader.fail(
            node, f"study {quote(text)} must match [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}."
        )
    return text


def _model(reader: _SweepReader, node: Node) -> AssetPath:
    text = reader.string(node, "model")
    try:
        path = parse_asset_path(text)
    except InvalidInput as err:
        raise reader.fail(node, str(err)) from None
    if path.type != "model":
        raise reader.fail(
            node, f"model {quote(text)} must be a model asset (owner/model/folder/name)."
        )
    return path


def _objective(
    reader: _SweepReader, document: Node, top: dict[str, tuple[Node, Node]]
) -> Objective:
    if ("objective" in top) == ("notebook" in top):
        raise reader.fail(
            document, "give exactly one of 'objective' (module:function) or 'notebook'."
        )
    if "notebook" in top:
        return Objective("notebook", reader.project_file(top["notebook"][1], "notebook", ".ipynb"))
    node = top["objective"][1]
    text = reader.string(node, "objective")
    target, colon, function = text.rpartition(":")
    if not colon or not function.isidentifier() or function.startswith("_"):
        raise reader.fail(
            node, f"objective {quote(text)} must be module:function or file.py:function."
        )
    if target.endswith(".py"):
        return Objective("function", _project_path(reader, node, target, "objective"), function)
    if not DOTTED.match(target):
        raise reader.fail(
            node, f"objective module {quote(target)} must be a dotted module name or a .py file."
        )
    return Objective("function", target, function)


def _project_path(reader: _SweepReader, node: Node, text: str, what: str) -> str:
    """A project file named inside a longer string: checked as the pipeline checks its files."""
    return reader.project_file(ScalarNode("tag:yaml.org,2002:str", text, node.start_mark), what)


def _space(reader: _SweepReader, node: Node) -> dict[str, ParamSpec]:
    items = reader.mapping(node, "'space'")
    if not items:
        raise reader.fail(node, "'space' declares no hyperparameter.")
    return {
        reader.identifier(key, "hyperparameter"): _param(reader, key.value, value)
        for key, value in items.values()
    }


def _param(reader: _SweepReader, name: str, node: Node) -> ParamSpec:
    what = f"hyperparameter {quote(name)}"
    fields = reader.mapping(node, what, PARAM_KEYS)
    if "type" not in fields:
        raise reader.fail(node, f"{what} needs a 'type' (float, int or categorical).")
    kind = reader.choice(fields["type"][1], f"the type of {what}", PARAM_TYPES)
    if kind == "categorical":
        return _categorical(reader, name, node, fields)
    for key in ("low", "high"):
        if key not in fields:
            raise reader.fail(node, f"{what} needs '{key}'.")
    if "choices" in fields:
        raise reader.fail(
            fields["choices"][0], f"{what} is {kind}: 'choices' belong to categorical ones."
        )
    integer = kind == "int"
    low = reader.number(fields["low"][1], f"'low' of {what}", integer=integer, minimum=-math.inf)
    high = reader.number(fields["high"][1], f"'high' of {what}", integer=integer, minimum=-math.inf)
    log = reader.flag(fields["log"][1], f"'log' of {what}") if "log" in fields else False
    step = (
        reader.number(fields["step"][1], f"'step' of {what}", integer=integer, minimum=0)
        if "step" in fields
        else None
    )
    if high <= low:
        raise reader.fail(node, f"{what} needs 'low' below 'high'.")
    if log and low <= 0:
        raise reader.fail(node, f"{what} is on a log scale: 'low' must be above 0.")
    if step is not None and (step <= 0 or log):
        raise reader.fail(node, f"{what}: 'step' must be above 0 and cannot go with 'log'.")
    return ParamSpec(name, kind, low, high, log, step)


def _categorical(
    reader: _SweepReader, name: str, node: Node, fields: dict[str, tuple[Node, Node]]
) -> ParamSpec:
    what = f"hyperparameter {quote(name)}"
    extra = [k for k in fields if k not in ("type", "choices")]
    if extra:
        raise reader.fail(
            fields[extra[0]][0], f"{what} is categorical: {quote(extra[0])} does not apply."
        )
    if "choices" not in fields or not isinstance(fields["choices"][1], SequenceNode):
        raise reader.fail(node, f"{what} needs 'choices', a list of values.")
    choices = reader.value(fields["choices"][1])
    if not choices or any(not isinstance(c, (str, int, float, bool)) or c is None for c in choices):
        raise reader.fail(
            fields["choices"][1], f"the choices of {what} must be numbers, strings or booleans."
        )
    if len(set(map(repr, choices))) != len(choices):
        raise reader.fail(fields["choices"][1], f"the choices of {what} repeat a value.")
    return ParamSpec(name, "categorical", choices=tuple(choices))


def _options(
    reader: _SweepReader, top: dict[str, tuple[Node, Node]], values: dict[str, Any]
) -> None:
    """Every optional key, read into ``values`` (defaults are ``SweepSpec``'s)."""
    node = {key: value for key, (_, value) in top.items()}
    if "inputs" in node:
        values["inputs"] = _inputs(reader, node["inputs"])
    if "metric" in node:
        values["metric"], values["direction"] = _metric(reader, node["metric"])
    integers = {"steps": 1, "trials": 1, "workers": 1}
    for key, minimum in integers.items():
        if key in node:
            values[key] = reader.number(node[key], f"{quote(key)}", integer=True, minimum=minimum)
    if "seed" in node:
        values["seed"] = reader.number(node["seed"], "'seed'", integer=True)
    if "heartbeat" in node:
        values["heartbeat"] = float(
            reader.number(node["heartbeat"], "'heartbeat' (seconds)", minimum=0.2)
        )
    if "gpus_per_trial" in node:
        values["gpus_per_trial"] = _gpus(reader, node["gpus_per_trial"])
    if "sampler" in node:
        values["sampler"] = reader.choice(node["sampler"], "sampler", SAMPLERS)
    if "pruner" in node:
        values["pruner"] = reader.choice(node["pruner"], "pruner", PRUNERS)
    if "algorithm" in node:
        values["algorithm"] = reader.choice(node["algorithm"], "algorithm", ALGORITHMS)
    if "storage" in node and not (
        isinstance(node["storage"], ScalarNode) and node["storage"].tag.endswith(":null")
    ):
        values["storage"] = _storage(reader, node["storage"])
    if "pbt" in node:
        values["pbt"] = _pbt(reader, node["pbt"])
    values["best_tag"], values["merge"] = _best(reader, node.get("best"), values["study"])


def _inputs(reader: _SweepReader, node: Node) -> dict[str, AssetRef]:
    inputs = {}
    for key, value in reader.mapping(node, "'inputs'").values():
        name = reader.identifier(key, "input")
        try:
            inputs[name] = parse_ref(reader.string(value, f"input {quote(name)}"))
        except InvalidInput as err:
            raise reader.fail(value, str(err)) from None
    return inputs


def _metric(reader: _SweepReader, node: Node) -> tuple[str, str]:
    fields = reader.mapping(node, "'metric'", METRIC_KEYS)
    if "name" not in fields:
        raise reader.fail(node, "'metric' needs a 'name'.")
    name = reader.identifier(fields["name"][1], "metric")
    direction = "maximize"
    if "direction" in fields:
        direction = reader.choice(fields["direction"][1], "direction", ("maximize", "minimize"))
    return name, direction


def _gpus(reader: _SweepReader, node: Node) -> float:
    """0 (CPU), a whole number of GPUs, or 1/k of one (k trials share it)."""
    value = float(reader.number(node, "'gpus_per_trial'"))
    if value >= 1 and value != int(value):
        raise reader.fail(node, "'gpus_per_trial' above 1 must be a whole number of GPUs.")
    if 0 < value < 1 and abs(1 / value - round(1 / value)) > 1e-6:
        raise reader.fail(node, "'gpus_per_trial' below 1 must be 1/k of a GPU (0.5, 0.25, ...).")
    return value


def _storage(reader: _SweepReader, node: Node) -> str:
    text = reader.string(node, "storage")
    if not re.match(r"(sqlite|postgresql|postgresql\+psycopg|mysql(\+\w+)?)://", text):
        raise reader.fail(
            node, f"storage {quote(text)} must be an Optuna RDB URL (sqlite:///…, postgresql://…)."
        )
    return text.replace("postgresql://", "postgresql+psycopg://", 1)


def _pbt(reader: _SweepReader, node: Node) -> PbtSpec:
    fields = {k: v for k, (_, v) in reader.mapping(node, "'pbt'", PBT_KEYS).items()}
    values: dict[str, Any] = {}
    if "population" in fields:
        values["population"] = reader.number(
            fields["population"], "'population'", integer=True, minimum=2
        )
    if "interval" in fields:
        values["interval"] = reader.number(
            fields["interval"], "'interval'", integer=True, minimum=1
        )
    for key in ("quantile", "resample_probability"):
        if key in fields:
            values[key] = float(reader.number(fields[key], quote(key)))
            if values[key] > (0.5 if key == "quantile" else 1):
                raise reader.fail(
                    fields[key], f"{quote(key)} must be at most {0.5 if key == 'quantile' else 1}."
                )
    if "factors" in fields:
        if not isinstance(fields["factors"], SequenceNode) or not fields["factors"].value:
            raise reader.fail(
                fields["factors"], "'factors' must be a list of numbers, such as [0.8, 1.2]."
            )
        values["factors"] = tuple(
            float(reader.number(f, "a factor", minimum=1e-9)) for f in fields["factors"].value
        )
    return PbtSpec(**values)


def _best(reader: _SweepReader, node: Node | None, study: str) -> tuple[str, bool]:
    if node is None:
        return f"{study}-best", False
    fields = {k: v for k, (_, v) in reader.mapping(node, "'best'", BEST_KEYS).items()}
    tag = reader.string(fields["tag"], "'tag'") if "tag" in fields else f"{study}-best"
    try:
        parse_ref(f"a/model/b/c:{tag}")
    except InvalidInput as err:
        raise reader.fail(fields["tag"], str(err)) from None
    return tag, reader.flag(fields["merge"], "'merge'") if "merge" in fields else False


def _check_combination(
    reader: _SweepReader, top: dict[str, tuple[Node, Node]], spec: SweepSpec
) -> None:
    """What each key allows alone but not together."""
    if spec.sampler == "grid" and spec.algorithm == "optuna":
        for param in spec.space.values():
            if param.type == "float" and param.step is None:
                raise reader.fail(
                    top["space"][1],
                    f"the grid sampler needs a 'step' for float {quote(param.name)}.",
                )
    if spec.sampler == "gp" and importlib.util.find_spec("torch") is None:
        raise reader.fail(
            top["sampler"][1],
            "sampler 'gp' (Optuna's GPSampler) needs PyTorch: install torch or choose tpe.",
        )
    if "pbt" in top and spec.algorithm != "pbt":
        raise reader.fail(top["pbt"][0], "'pbt' options need 'algorithm: pbt'.")
    if spec.algorithm == "pbt" and spec.steps < 2 * spec.pbt.interval:
        raise reader.fail(
            top.get("steps", top["study"])[1],
            f"PBT needs 'steps' of at least two intervals ({2 * spec.pbt.interval}).",
        )
