"""The sweep example (``examples/sweeps``): its training core in PaddlePaddle and PyTorch, and
the real trial function and notebook run through the sweep engine on the CPU."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ROOT / "examples" / "sweeps"


def load_module(path: Path) -> ModuleType:
    """An example file as a module, the way the engine loads ``file.py:function``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = load_module(SWEEPS / "digits_sweep_common.py")


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits as the examples loader publishes them (``digits/digits.csv``, 1,797 rows)."""
    folder = tmp_path_factory.mktemp("digits")
    loader = load_module(ROOT / "examples" / "load_examples.py")
    loader.write_digits(folder / "digits", 1797)
    return folder


@pytest.fixture(scope="module")
def data(digits_folder: Path) -> Any:
    return common.load_digits(digits_folder)


@pytest.fixture
def paddle_trial() -> Iterator[ModuleType]:
    paddle = pytest.importorskip("paddle")
    paddle.set_device("cpu")
    yield load_module(SWEEPS / "digits_trial.py")


def test_the_split_is_fixed_and_disjoint(data: Any, digits_folder: Path) -> None:
    again = common.load_digits(digits_folder)
    assert data.x_train.shape == (1347, 64) and data.x_val.shape == (450, 64)
    assert np.array_equal(data.y_val, again.y_val)  # every trial validates on the same images
    assert data.x_train.max() <= 1.0 and set(np.unique(data.y_val)) == set(range(10))
    train_rows = {row.tobytes() for row in data.x_train}
    assert sum(row.tobytes() in train_rows for row in data.x_val) < 5  # (a few duplicate images)


def test_hyperparameters_get_defaults_and_framework_types() -> None:
    values = common.hyperparameters({"lr": 1, "batch_size": 32.0})
    assert values == {"lr": 1.0, "weight_decay": 1e-4, "batch_size": 32, "hidden": 64}
    assert isinstance(values["lr"], float)  # Paddle's set_lr takes nothing else


def test_minibatches_cover_an_epoch_once_and_replay_by_seed() -> None:
    batches = common.minibatches(100, 32, seed=7)
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    assert sorted(np.concatenate(batches)) == list(range(100))
    assert all(
        np.array_equal(a, b) for a, b in zip(batches, common.minibatches(100, 32, 7), strict=True)
    )
    assert not np.array_equal(batches[0], common.minibatches(100, 32, 8)[0])


def test_the_paddle_network_learns_the_digits(paddle_trial: ModuleType, data: Any) -> None:
    import paddle

    params = common.hyperparameters({"lr": 0.01, "batch_size": 64, "hidden": 32})
    with paddle.utils.unique_name.guard():
        paddle.seed(0)
        model, optimizer = paddle_trial.build(params)
        before = paddle_trial.evaluate(model, data.x_val, data.y_val)
        loss = paddle_trial.train_steps(model, optimizer, data, params, steps=5, seed=0)
        after = paddle_trial.evaluate(model, data.x_val, data.y_val)
    assert before < 0.3 and after > 0.9 and loss < 0.5


def test_a_paddle_checkpoint_resumes_in_the_same_process_with_an_explored_lr(
    paddle_trial: ModuleType, data: Any, tmp_path: Path
) -> None:
    """PBT's exploit in one worker process: a second network takes the first's weights and
    AdamW moments (the generated names must match), keeps its shape, trains with the new lr."""
    import paddle

    params = common.hyperparameters({"lr": 0.01, "hidden": 48})
    with paddle.utils.unique_name.guard():
        donor = paddle_trial.PaddleTrainer(params, "cpu", 0, None)
        donor.train_epoch(data, 1)
        donor.save(tmp_path, step=1)
        accuracy = donor.accuracy(data.x_val, data.y_val)
    explored = {**params, "lr": 0.004, "hidden": 16}  # hidden is ignored: the checkpoint's wins
    with paddle.utils.unique_name.guard():
        loser = paddle_trial.PaddleTrainer(explored, "cpu", 1, tmp_path)
        assert loser.accuracy(data.x_val, data.y_val) == accuracy
        assert loser.optimizer.get_lr() == 0.004 and loser.params["hidden"] == 48
        loser.train_epoch(data, 2)  # the moments were found under the names they were saved as
        loser.save(tmp_path, step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.json",
        "model.pdparams",
        "opt.pdopt",
    ]
    assert common.checkpoint_hidden(tmp_path) == 48


def test_the_torch_network_learns_and_resumes(data: Any, tmp_path: Path) -> None:
    """Skipped where PyTorch is not installed (it is not in this project's extras)."""
    torch = pytest.importorskip("torch")
    trial = load_module(SWEEPS / "digits_trial_torch.py")
    params = common.hyperparameters({"lr": 0.01, "batch_size": 64, "hidden": 32})
    first = trial.TorchTrainer(params, "cpu", 0, None)
    for seed in range(5):
        first.train_epoch(data, seed)
    assert first.accuracy(data.x_val, data.y_val) > 0.9
    first.save(tmp_path, step=5)
    again = trial.TorchTrainer({**params, "lr": 0.002}, "cpu", 1, tmp_path)
    assert again.accuracy(data.x_val, data.y_val) == first.accuracy(data.x_val, data.y_val)
    assert again.optimizer.param_groups[0]["lr"] == 0.002
    assert isinstance(torch.load(tmp_path / "opt.pt")["state"], dict)


def test_the_torch_trial_imports_without_torch() -> None:
    """The module (and so a sweep file naming it) loads where torch is absent."""
    before = "torch" in sys.modules
    load_module(SWEEPS / "digits_trial_torch.py")
    assert ("torch" in sys.modules) == before
