"""The sweep example (``examples/sweeps``): its training core in PaddlePaddle and PyTorch, and
the real trial function and notebook run through the sweep engine on the CPU."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml

from assethub_ext import Hub

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


THREADS = """
import sys, threading
sys.path.insert(0, sys.argv[1])
import digits_sweep_common as common, digits_trial


def first():  # imports Paddle and ends, like a runner's first trial thread
    import paddle
    paddle.set_device("cpu")


def second():
    digits_trial.use_device("cpu")
    import paddle
    with paddle.utils.unique_name.guard():
        trainer = digits_trial.PaddleTrainer(common.hyperparameters({}), "cpu", 0, None)
        print("loss", trainer.train_epoch(common.load_digits(common.Path(sys.argv[2])), 0))


for target in (first, second):
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
"""


def test_a_paddle_trial_trains_in_a_thread_of_its_own(
    paddle_trial: ModuleType, digits_folder: Path
) -> None:
    """Ray Tune reusing an actor calls the function from a new thread; Paddle, imported by a
    thread that has ended, is in static mode there unless ``use_device`` switches eager on."""
    done = subprocess.run(
        [sys.executable, "-c", THREADS, str(SWEEPS), str(digits_folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and "loss" in done.stdout, done.stderr[-2000:]


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


# -- through the engine ------------------------------------------------------------------------

MODEL = "demo/model/cv/digits-sweeps"
CHECKPOINT_FILES = {"model.json", "model.pdparams", "opt.pdopt"}


@pytest.fixture
def project(tmp_path: Path, make_hub: Callable[..., Hub]) -> Path:
    """A project folder holding a copy of ``examples/sweeps``, and a hub holding the digits as
    the examples loader publishes them (``v1``, ``v2``)."""
    pytest.importorskip("paddle")
    root = tmp_path / "project"
    shutil.copytree(SWEEPS, root / "examples" / "sweeps")
    hub = make_hub("demo")
    hub.init()
    load_module(ROOT / "examples" / "load_examples.py").load_dataset(hub, tmp_path / "data")
    return root


def sweep_file(project: Path, example: str, **changes: Any) -> Path:
    """The shipped sweep file ``example`` with a smaller budget (and a seed) for a test."""
    spec = yaml.safe_load((SWEEPS / example).read_text())
    spec.update(changes)
    path = project / f"test-{example}"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_sweep(cli: Callable[..., Any], project: Path, file: Path) -> dict[str, Any]:
    done = cli("sweep", str(file), "--json", user="demo", cwd=project)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def history(hub: Hub, study: str) -> dict[str, list[Any]]:
    """Each trial's commits, oldest first, by branch."""
    branches = [
        b["name"] for b in hub.branch_list(MODEL) if b["name"].startswith(f"sweeps/{study}/")
    ]
    return {name: hub.log(f"{MODEL}:{name}")[::-1] for name in sorted(branches)}


@pytest.mark.slow
def test_a_tpe_sweep_of_the_paddle_trial_commits_every_epoch(
    project: Path, cli: Callable[..., Any], make_hub: Callable[..., Hub]
) -> None:
    space = {"lr": {"type": "float", "low": 0.003, "high": 0.03, "log": True},
             "batch_size": {"type": "categorical", "choices": [32, 64]}}  # fmt: skip
    file = sweep_file(project, "digits-tpe.yaml", trials=2, steps=3, space=space, seed=3)
    result = run_sweep(cli, project, file)
    hub = make_hub("demo")
    trials = history(hub, "digits-tpe")
    assert list(trials) == ["sweeps/digits-tpe/t0000", "sweeps/digits-tpe/t0001"]
    v2 = hub.show("demo/dataset/cv/digits:v2")["commit"].id
    for commits in trials.values():
        assert [c.meta["sweep"]["step"] for c in commits] == [1, 2, 3]
        assert {c.meta["sweep"]["event"] for c in commits} == {"checkpoint"}
        assert set(commits[0].params) == {"lr", "batch_size"}
        assert [i["commit"] for i in commits[-1].lineage["inputs"]] == [v2]
        assert set(hub.show(f"{MODEL}:{commits[-1].id}")["tree"]) == CHECKPOINT_FILES
        assert commits[-1].metrics["val_accuracy"] > 0.85  # three epochs of a sane lr
        assert commits[-1].metrics["train_loss"] < commits[0].metrics["train_loss"]
    best = hub.show(f"{MODEL}:digits-tpe-best")["commit"]
    assert best.metrics["val_accuracy"] == max(
        c[-1].metrics["val_accuracy"] for c in trials.values()
    )
    assert result["best"]["commit"] == best.id and result["best"]["tag"] == "digits-tpe-best"


@pytest.mark.slow
def test_a_pbt_sweep_of_the_paddle_trial_exploits_and_carries_on(
    project: Path, cli: Callable[..., Any], make_hub: Callable[..., Hub]
) -> None:
    """Three members, one worker, so they run in order whatever the machine's timing: a later
    member is behind the finished ones at its first boundary, so it exploits one; it then
    trains on from the donor's weights. (Members running side by side are covered by the
    engine's own PBT tests.)"""
    pbt = {"population": 3, "interval": 2, "quantile": 0.25}
    file = sweep_file(project, "digits-pbt.yaml", steps=6, pbt=pbt, seed=5, workers=1)
    run_sweep(cli, project, file)
    hub = make_hub("demo")
    trials = history(hub, "digits-pbt")
    assert len(trials) == 3
    commits = [c for line in trials.values() for c in line]
    exploits = [c for c in commits if c.meta["sweep"]["event"] == "exploit"]
    assert exploits, "no member exploited another"
    for exploit in exploits:
        source = exploit.meta["sweep"]["source"]
        donor = hub.show(f"{MODEL}:{source['commit']}")["commit"]
        assert exploit.tree == donor.tree  # the donor's files, no bytes copied
        assert source["commit"] in [i["commit"] for i in exploit.lineage["inputs"]]
        assert exploit.meta["sweep"]["step"] == donor.meta["sweep"]["step"]
        assert set(exploit.meta["sweep"]["explore"]) == {"lr", "weight_decay", "batch_size"}
        (after,) = [c for c in commits if exploit.id in c.parents]
        # the loser went on from the donor's step: a checkpoint with its new params, or (when
        # the donor's newest checkpoint was an interval behind) straight into another exploit
        assert after.meta["sweep"]["step"] == exploit.meta["sweep"]["step"] + 1
        if after.meta["sweep"]["event"] == "checkpoint":
            assert after.params == exploit.params
    for line in trials.values():
        assert line[-1].meta["sweep"]["step"] == 6
        # restored from a checkout and saved again: the checkout's marker is not committed
        assert set(hub.show(f"{MODEL}:{line[-1].id}")["tree"]) == CHECKPOINT_FILES
        assert line[-1].metrics["val_accuracy"] > 0.3  # far above chance (0.1) for any member


@pytest.mark.slow
def test_the_notebook_objective_runs_under_the_engine(
    project: Path, cli: Callable[..., Any], make_hub: Callable[..., Hub]
) -> None:
    spec = yaml.safe_load((SWEEPS / "digits-tpe.yaml").read_text())
    del spec["objective"]
    space = {"lr": {"type": "float", "low": 0.005, "high": 0.02, "log": True}}
    changes = {"notebook": "examples/sweeps/digits_trial.ipynb", "study": "digits-nb"}
    file = project / "notebook.yaml"
    file.write_text(
        yaml.safe_dump({**spec, **changes, "space": space, "trials": 1, "steps": 2, "workers": 1})
    )
    run_sweep(cli, project, file)
    hub = make_hub("demo")
    (line,) = history(hub, "digits-nb").values()
    assert [c.meta["sweep"]["step"] for c in line] == [1, 2]
    assert line[-1].lineage["caller"]["kind"] == "notebook"
    assert 0.005 <= line[-1].params["lr"] <= 0.02 and line[-1].metrics["val_accuracy"] > 0.8


@pytest.mark.slow
def test_the_torch_trial_runs_under_the_engine_asking_for_gpus(
    project: Path, cli: Callable[..., Any], make_hub: Callable[..., Hub]
) -> None:
    """The GPU path's sweep file with the PyTorch trial (skipped where torch is absent): on a
    machine without a GPU the workers say so and train on the CPU."""
    pytest.importorskip("torch")
    changes = {"objective": "examples/sweeps/digits_trial_torch.py:train", "study": "digits-torch"}
    space = {"lr": {"type": "float", "low": 0.005, "high": 0.02, "log": True}}
    file = sweep_file(
        project, "digits-tpe.yaml", **changes, space=space, trials=2, steps=2, gpus_per_trial=0.5
    )
    done = cli("sweep", str(file), user="demo", cwd=project)
    assert done.returncode == 0, done.stderr
    if not shutil.which("nvidia-smi"):
        assert "no GPU found" in done.stderr
    hub = make_hub("demo")
    for line in history(hub, "digits-torch").values():
        assert [c.meta["sweep"]["step"] for c in line] == [1, 2]
        assert set(hub.show(f"{MODEL}:{line[-1].id}")["tree"]) >= {
            "model.pt",
            "opt.pt",
            "model.json",
        }
        assert line[-1].metrics["val_accuracy"] > 0.8
