"""The digits trial in PyTorch (``objective: examples/sweeps/digits_trial_torch.py:train``).

The same network, optimizer, data, steps and checkpoint layout as ``digits_trial.py``, for a
GPU machine that has PyTorch but not PaddlePaddle: the sweep engine's GPU path does not care
which framework a trial uses. ``torch`` is imported only when a trial runs, so this module
imports (and the sweep file validates) where torch is absent.
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


def build(params: dict[str, Any], device: str) -> tuple[Any, Any]:
    """A 64-``hidden``-10 MLP on ``device`` ("cuda" or "cpu") and its AdamW."""
    import torch

    model = torch.nn.Sequential(
        torch.nn.Linear(64, params["hidden"]),
        torch.nn.ReLU(),
        torch.nn.Linear(params["hidden"], 10),
    ).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"]
    )
    return model, optimizer


def train_steps(
    model: Any, optimizer: Any, data: Digits, params: dict[str, Any], steps: int, seed: int
) -> float:
    """``steps`` epochs of minibatch AdamW (epoch ``i`` shuffled with ``seed + i``); the mean
    loss of the last epoch."""
    import torch

    device = next(model.parameters()).device
    x = torch.from_numpy(data.x_train).to(device)
    y = torch.from_numpy(data.y_train).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    losses: list[Any] = []
    for epoch in range(steps):
        losses = []
        for batch in minibatches(len(data.y_train), params["batch_size"], seed + epoch):
            index = torch.from_numpy(batch).to(device)
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())  # no .item() per batch: it would sync with the GPU
    return float(torch.stack(losses).mean())


def evaluate(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The share of ``x`` classified as ``y``."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(x).to(device)).argmax(dim=1).cpu().numpy()
    return float((predicted == y).mean())


class TorchTrainer(Trainer):
    """A trial's network and AdamW in PyTorch, on the GPU when the worker was given one."""

    framework = "torch"

    def seed(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)

    def build(self) -> tuple[Any, Any]:
        return build(self.params, "cuda" if self.device == "gpu" else "cpu")

    def load(self, folder: Path) -> None:
        import torch

        where = next(self.model.parameters()).device
        self.model.load_state_dict(torch.load(folder / "model.pt", map_location=where))
        self.optimizer.load_state_dict(torch.load(folder / "opt.pt", map_location=where))
        for group in self.optimizer.param_groups:  # the state carries the donor's values
            group["lr"], group["weight_decay"] = self.params["lr"], self.params["weight_decay"]

    def write(self, folder: Path) -> None:
        import torch

        torch.save(self.model.state_dict(), folder / "model.pt")
        torch.save(self.optimizer.state_dict(), folder / "opt.pt")

    def train_epoch(self, data: Digits, seed: int) -> float:
        return train_steps(self.model, self.optimizer, data, self.params, 1, seed)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return evaluate(self.model, x, y)


def train(ctx: Any, params: dict[str, Any] | None = None) -> float | None:
    """The sweep objective in PyTorch; the validation accuracy."""
    return run_trial(ctx, TorchTrainer, params)
