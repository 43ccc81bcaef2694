"""A sweep trial: a small PaddlePaddle MLP on the pinned digits (``objective: …digits_trial.py:train``).

The hyperparameters are the learning rate, the weight decay (AdamW's), the batch size and the
hidden layer's width. Each step is one epoch; each checkpoint is ``model.pdparams`` (weights),
``opt.pdopt`` (AdamW's moments) and ``model.json``.

Four PaddlePaddle pitfalls are handled here:

- Optimizer state is keyed by generated names (``linear_0.w_0_moment1_0``). A second network
  built in the same process (PBT restarts the trial function after an exploit) would be
  ``linear_2…`` and refuse the donor's state; and the moments are named lazily at the first
  ``step()``. So the whole trial, building through training, runs in one
  ``paddle.utils.unique_name.guard()``, which numbers names from zero again.
- After loading a donor's optimizer state the learning rate is set again with ``set_lr``, so
  an explored value is the one used; ``set_lr`` takes only a float (not an LRScheduler).
- The weight decay is a constructor argument, not optimizer state: a fresh AdamW is built with
  the trial's current value, then given the donor's moments.
- Dygraph (eager) mode is a per-thread setting, on only in the thread that imported Paddle.
  A runner that calls ``train`` from a fresh thread (Ray Tune reusing an actor does) would
  find static mode there, so ``train`` switches it on first.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits_sweep_common import (  # found beside this file, however it is loaded
    Digits,
    Trainer,
    minibatches,
    run_trial,
)


def build(params: dict[str, Any]) -> tuple[Any, Any]:
    """A 64-``hidden``-10 MLP and its AdamW; call inside ``unique_name.guard()``."""
    import paddle

    model = paddle.nn.Sequential(
        paddle.nn.Linear(64, params["hidden"]),
        paddle.nn.ReLU(),
        paddle.nn.Linear(params["hidden"], 10),
    )
    optimizer = paddle.optimizer.AdamW(
        learning_rate=params["lr"],
        weight_decay=params["weight_decay"],
        parameters=model.parameters(),
    )
    return model, optimizer


def train_steps(
    model: Any, optimizer: Any, data: Digits, params: dict[str, Any], steps: int, seed: int
) -> float:
    """``steps`` epochs of minibatch AdamW over the training split (epoch ``i`` shuffled with
    ``seed + i``); the mean loss of the last epoch."""
    import paddle

    model.train()
    loss_fn = paddle.nn.CrossEntropyLoss()
    x, y = paddle.to_tensor(data.x_train), paddle.to_tensor(data.y_train)
    losses: list[float] = []
    for epoch in range(steps):
        losses = []
        for batch in minibatches(len(data.y_train), params["batch_size"], seed + epoch):
            index = paddle.to_tensor(batch)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            losses.append(float(loss))
    return float(np.mean(losses))


def evaluate(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The share of ``x`` classified as ``y``."""
    import paddle

    model.eval()
    with paddle.no_grad():
        predicted = model(paddle.to_tensor(x)).argmax(axis=1).numpy()
    return float((predicted == y).mean())


class PaddleTrainer(Trainer):
    """A trial's network and AdamW in PaddlePaddle (build it inside ``unique_name.guard()``)."""

    framework = "paddle"

    def seed(self, seed: int) -> None:
        import paddle

        paddle.seed(seed)

    def build(self) -> tuple[Any, Any]:
        return build(self.params)

    def load(self, folder: Path) -> None:
        import paddle

        self.model.set_state_dict(paddle.load(str(folder / "model.pdparams")))
        self.optimizer.set_state_dict(paddle.load(str(folder / "opt.pdopt")))
        self.optimizer.set_lr(self.params["lr"])  # a float: set_lr refuses a scheduler's

    def write(self, folder: Path) -> None:
        import paddle

        paddle.save(self.model.state_dict(), str(folder / "model.pdparams"))
        paddle.save(self.optimizer.state_dict(), str(folder / "opt.pdopt"))

    def train_epoch(self, data: Digits, seed: int) -> float:
        return train_steps(self.model, self.optimizer, data, self.params, 1, seed)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return evaluate(self.model, x, y)


def use_device(device: str) -> None:
    """Eager mode in this thread (it is per thread: a runner may call ``train`` from a new one),
    on the GPU the worker was given, else the CPU."""
    import paddle

    paddle.disable_static()
    paddle.set_device("gpu" if device == "gpu" else "cpu")


def train(ctx: Any, params: dict[str, Any] | None = None) -> float | None:
    """The sweep objective: ``ctx`` is the engine's ``TrialContext``; the validation accuracy."""
    import paddle

    use_device(ctx.device)
    with paddle.utils.unique_name.guard():
        return run_trial(ctx, PaddleTrainer, params)
