"""What the digits trials share whatever the framework: the data, the defaults, and the loop.

The loop is the sweep contract's "restore if any, then loop": a trial restarted by PBT after
an exploit (or resumed after a kill) finds the checkpoint on its branch and carries on from
the step after it, so one function serves Optuna samplers and PBT alike. A framework only
supplies a :class:`Trainer` (``digits_trial.py`` for PaddlePaddle, ``digits_trial_torch.py``
for PyTorch); both read and write the same checkpoint layout, ``model.json`` naming the step
and the architecture beside the framework's weight files.
"""

from __future__ import annotations

import abc
import json
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULTS: dict[str, Any] = {"lr": 0.01, "weight_decay": 1e-4, "batch_size": 64, "hidden": 64}
"""Hyperparameters a sweep file leaves out of its space (PBT's, for one, keeps ``hidden`` fixed:
explore must not change the shape of weights it copies)."""
VALIDATION_FRACTION = 0.25
SPLIT_SEED = 0


@dataclass(frozen=True)
class Digits:
    """Scikit-learn's 8x8 digits, pixels scaled to [0, 1], split once and for all trials alike."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def load_digits(folder: Path) -> Digits:
    """The dataset version the sweep pinned (``digits/digits.csv`` as the examples loader
    publishes it), split with a fixed seed so every trial validates on the same images."""
    csv = folder / "digits" / "digits.csv"
    table = np.loadtxt(csv if csv.exists() else folder / "digits.csv", delimiter=",", skiprows=1)
    x, y = (table[:, :64] / 16.0).astype("float32"), table[:, 64].astype("int64")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    cut = int(len(y) * (1 - VALIDATION_FRACTION))
    train, val = order[:cut], order[cut:]
    return Digits(x[train], y[train], x[val], y[val])


def hyperparameters(params: dict[str, Any]) -> dict[str, Any]:
    """The defaults overridden by the trial's values, as the types the frameworks want: a
    float learning rate (Paddle's ``set_lr`` refuses anything else) and integer sizes."""
    merged = {**DEFAULTS, **params}
    return {
        "lr": float(merged["lr"]),
        "weight_decay": float(merged["weight_decay"]),
        "batch_size": int(merged["batch_size"]),
        "hidden": int(merged["hidden"]),
    }


def minibatches(count: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """One epoch's shuffled index batches; seeded by the step so a resumed trial replays it."""
    order = np.random.default_rng(seed).permutation(count)
    return [order[i : i + batch_size] for i in range(0, count, batch_size)]


def trial_seed(study: str, trial: str) -> int:
    """A seed per trial, stable across restarts (Python's ``hash`` of a str is not)."""
    return zlib.crc32(f"{study}/{trial}".encode()) % 2**31


def write_config(folder: Path, step: int, hidden: int, framework: str) -> None:
    config = {"step": step, "layers": [64, hidden, 10], "framework": framework}
    (folder / "model.json").write_text(json.dumps(config))


def checkpoint_hidden(folder: Path) -> int:
    """The hidden size a checkpoint was built with: it wins over the trial's params, since an
    exploited trial keeps training the donor's network."""
    return int(json.loads((folder / "model.json").read_text())["layers"][1])


class Trainer(abc.ABC):
    """One trial's network and optimizer in some framework, fresh or from a checkpoint folder.

    A subclass says how to seed, build, load, write and train; the order is kept here once: a
    fresh network is seeded, a restored one takes the checkpoint's width (an exploited trial
    keeps training the donor's network, whatever its own params say) and then its state.
    """

    framework = ""

    def __init__(
        self, params: dict[str, Any], device: str, seed: int, restore_from: Path | None
    ) -> None:
        self.params = dict(params)
        self.device = device
        if restore_from is None:
            self.seed(seed)
        else:
            self.params["hidden"] = checkpoint_hidden(restore_from)
        self.model, self.optimizer = self.build()
        if restore_from is not None:
            self.load(restore_from)

    @abc.abstractmethod
    def seed(self, seed: int) -> None: ...

    @abc.abstractmethod
    def build(self) -> tuple[Any, Any]:
        """The network for ``self.params`` on ``self.device``, and its optimizer."""

    @abc.abstractmethod
    def load(self, folder: Path) -> None:
        """Take the weights and optimizer state in ``folder``, with this trial's lr and decay."""

    @abc.abstractmethod
    def write(self, folder: Path) -> None:
        """Write the weights and the optimizer state into ``folder``."""

    @abc.abstractmethod
    def train_epoch(self, data: Digits, seed: int) -> float:
        """One pass over the training split; returns the mean training loss."""

    @abc.abstractmethod
    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float: ...

    def save(self, folder: Path, step: int) -> None:
        self.write(folder)
        write_config(folder, step, self.params["hidden"], self.framework)


def run_trial(
    ctx: Any, make_trainer: type[Trainer], params: dict[str, Any] | None = None
) -> float | None:
    """Restore this trial's checkpoint if it has one, then train to ``ctx.max_steps``,
    reporting the validation accuracy and committing a checkpoint after every epoch.

    ``params`` overrides ``ctx.params`` (a notebook passes the values papermill injected).
    Returns the last accuracy, or None when the checkpoint was already at the last step
    (the engine then takes the last reported value).
    """
    values = hyperparameters(params if params is not None else ctx.params)
    data = load_digits(Path(ctx.inputs["digits"]))
    seed = trial_seed(ctx.study, ctx.trial)
    accuracy = None
    with tempfile.TemporaryDirectory(prefix="digits-checkpoint-") as tmp:
        folder = Path(tmp)
        restored = ctx.restore_checkpoint(folder)
        trainer = make_trainer(values, ctx.device, seed, folder if restored is not None else None)
        for step in range((restored or 0) + 1, ctx.max_steps + 1):
            loss = trainer.train_epoch(data, seed + step)
            accuracy = trainer.accuracy(data.x_val, data.y_val)
            ctx.report(step, accuracy, train_loss=loss)
            trainer.save(folder, step)
            ctx.save_checkpoint(folder, step)
            if ctx.should_prune():  # the engine records the trial as pruned
                break
    return accuracy
