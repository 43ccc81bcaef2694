"""Sweeps end to end on the CPU: real worker processes, real Optuna storage, tiny objectives.

The objective (``obj.py``, written here) trains nothing: it moves a number towards 1 at a
rate set by the hyperparameters, keeps it in a checkpoint file, and follows the contract's
"restore, then loop: train, report, save" shape, so the same code serves Optuna and PBT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from conftest import subprocess_env, write_files, write_notebook

from assethub_ext import Hub
from assethub_ext.core.errors import InvalidInput, NotFound
from assethub_ext.sweeps import run_sweep, sweep_status
from assethub_ext.sweeps.engine import SweepFailed, gpu_slots
from assethub_ext.sweeps.study import open_storage

MODEL = "alice/model/cv/toy"
DATA = "alice/dataset/cv/toy-data"
GATE = """
import json, os, time


def gate(step, lr):
    # Under TOY_GATE a bad member (lr < 0.1) reports its step 2 only after a good one saved
    # its own, so the exploit happens whatever the machine's load does to the timing.
    path = os.environ.get("TOY_GATE")
    if not path or step != 2:
        return
    if lr >= 0.1:
        open(path, "a").close()
        return
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
"""
OBJECTIVE = (
    GATE
    + """

def train(ctx):
    folder = os.path.join(os.getcwd(), "ckpt", ctx.trial)
    os.makedirs(folder, exist_ok=True)
    start = ctx.restore_checkpoint(folder) or 0
    state = os.path.join(folder, "state.json")
    acc = json.load(open(state))["acc"] if start else 0.0
    assert (ctx.inputs["data"] / "rows.csv").read_text() == "1,2\\n"
    for step in range(start + 1, ctx.max_steps + 1):
        time.sleep(float(os.environ.get("TOY_SLEEP", "0")))
        acc += ctx.params["lr"] * (1 - acc) - 0.002 * abs(ctx.params.get("width", 40) - 40)
        if ctx.params["lr"] < 0.1:
            gate(step, ctx.params["lr"])
        ctx.report(step, acc, loss=1 - acc)
        with open(state, "w") as f:
            json.dump({"acc": acc}, f)
        ctx.save_checkpoint(folder, step)
        if ctx.params["lr"] >= 0.1:
            gate(step, ctx.params["lr"])
        if ctx.should_prune():
            return None
    return acc

"""
)
SPACE = {
    "lr": {"type": "float", "low": 0.05, "high": 0.5, "log": True},
    "width": {"type": "int", "low": 8, "high": 64},
    "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
}
NOTEBOOK_PARAMETERS = """lr = 0.3
from assethub_ext.sweeps import trial_context
ctx = trial_context()
"""
NOTEBOOK_TRAIN = (
    GATE
    + """
assert lr == ctx.params["lr"]  # papermill injected the context's current hyperparameters
folder = os.path.join(os.getcwd(), "ckpt")
os.makedirs(folder, exist_ok=True)
start = ctx.restore_checkpoint(folder) or 0
acc = json.load(open(os.path.join(folder, "state.json")))["acc"] if start else 0.0
assert (ctx.inputs["data"] / "rows.csv").read_text() == "1,2\\n"
for step in range(start + 1, ctx.max_steps + 1):
    acc += lr * (1 - acc)
    if lr < 0.1:
        gate(step, lr)
    ctx.report(step, acc, lr=lr)
    with open(os.path.join(folder, "state.json"), "w") as f:
        json.dump({"acc": acc}, f)
    ctx.save_checkpoint(folder, step)
    if lr >= 0.1:
        gate(step, lr)
"""
)
LR_ONLY = {"lr": {"type": "categorical", "choices": [0.01, 0.5]}}  # seed 3: one of each
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def project(hub: Hub, tmp_path: Path) -> Path:
    """A project folder with the objective, and the dataset it reads as the hub's v1."""
    hub.create(DATA)
    hub.add(DATA, [str(write_files(tmp_path / "data", {"rows.csv": "1,2\n"}) / "rows.csv")])
    hub.publish(DATA)
    return write_files(tmp_path / "project", {"obj.py": OBJECTIVE})


def sweep_file(project: Path, name: str = "sweep.yaml", **values: Any) -> str:
    body = {
        "study": "toy",
        "model": MODEL,
        **({} if "notebook" in values else {"objective": "obj.py:train"}),
        "inputs": {"data": f"{DATA}:v1"},
        "metric": {"name": "acc", "direction": "maximize"},
        "space": SPACE,
        "steps": 3,
        "trials": 3,
        "workers": 1,
        "heartbeat": 1,
        "seed": 3,
        **values,
    }
    path = project / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


def run(hub: Hub, file: str, **kw: Any) -> Any:
    return run_sweep(file, hub=hub, root=os.path.dirname(file), echo=lambda _: None, **kw)


def head(hub: Hub, trial: str) -> Any:
    return hub.resolve_commit(f"{MODEL}:sweeps/toy/{trial}")[1]


def checkpointed(hub: Hub, result: Any, trials: int) -> list[tuple[dict[str, Any], Any]]:
    """Each trial of a finished 3-step sweep with its newest checkpoint, after checking that
    all completed with a checkpoint per step carrying its params, its value and the data's v1."""
    assert result.finished == trials
    assert [t["state"] for t in result.trials] == ["complete"] * trials
    data_commit = hub.resolve_commit(f"{DATA}:v1")[1].id
    rows = []
    for row in result.trials:
        commits = hub.log(f"{MODEL}:{row['branch']}")
        assert [c.meta["sweep"]["step"] for c in commits] == [3, 2, 1]
        top = commits[0]
        assert top.params == row["params"] and top.metrics["acc"] == pytest.approx(row["value"])
        assert [i["commit"] for i in top.lineage["inputs"]] == [data_commit]
        rows.append((row, top))
    return rows


def test_a_tpe_sweep_commits_each_checkpoint_with_params_metrics_meta_and_lineage(
    hub: Hub, project: Path
) -> None:
    result = run(hub, sweep_file(project))
    for row, top in checkpointed(hub, result, 3):
        assert top.meta["sweep"] == {
            "study": "toy", "trial": row["trial"], "step": 3, "algorithm": "optuna",
            "metric": "acc", "direction": "maximize", "event": "checkpoint",
        }  # fmt: skip
        assert "loss" in top.metrics and top.lineage["sweep"]["study"] == "toy"
    best = result.best
    assert (
        best["tag"] == "toy-best"
        and hub.resolve_commit(f"{MODEL}:toy-best")[1].id == best["commit"]
    )
    assert best["value"] == max(t["value"] for t in result.trials)
    again = run(hub, sweep_file(project))  # finished: nothing new runs, the tag stays
    assert [t["number"] for t in again.trials] == [0, 1, 2] and again.best["tag"] == "toy-best"


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "grid", "cmaes", "gp"])
def test_each_sampler_runs(hub: Hub, project: Path, sampler: str) -> None:
    space = dict(SPACE)
    if sampler == "grid":
        space["lr"] = {"type": "float", "low": 0.1, "high": 0.3, "step": 0.1}
    result = run(hub, sweep_file(project, sampler=sampler, space=space, trials=4, steps=2))
    assert result.finished == 4
    assert {t["state"] for t in result.trials} == {"complete"}
    if sampler == "grid":  # grid points are not repeated while the grid lasts
        assert len({json.dumps(t["params"], sort_keys=True) for t in result.trials}) == 4


@pytest.mark.slow
def test_median_pruner_prunes_the_bad_trials(hub: Hub, project: Path) -> None:
    space = {"lr": {"type": "categorical", "choices": [0.5, 0.01]}}  # equal good ones tie
    file = sweep_file(
        project, pruner="median", sampler="random", trials=8, steps=4, space=space, seed=2
    )
    result = run(hub, file)
    states = {t["state"] for t in result.trials}
    assert "pruned" in states and "complete" in states
    pruned = [t for t in result.trials if t["state"] == "pruned"]
    assert all(t["params"]["lr"] == 0.01 for t in pruned)


@pytest.mark.slow
def test_pbt_exploits_by_sharing_the_donor_tree_and_records_explore(
    hub: Hub, project: Path
) -> None:
    """Members with a bad learning rate copy a good member's checkpoint and perturb it."""
    space = {**SPACE, "lr": {"type": "categorical", "choices": [0.01, 0.02, 0.4, 0.5]}}
    pbt = {"population": 4, "interval": 2, "quantile": 0.25, "resample_probability": 0.0}
    file = sweep_file(project, algorithm="pbt", pbt=pbt, steps=6, workers=4, space=space)
    os.environ["TOY_SLEEP"] = "0.3"  # members overlap, so each sees the others' reports
    os.environ["TOY_GATE"] = str(project / "gate")  # a good member saves step 2 first
    try:
        result = run(hub, file)
    finally:
        del os.environ["TOY_SLEEP"], os.environ["TOY_GATE"]
    assert [t["state"] for t in result.trials] == ["complete"] * 4  # restarted members too
    exploits = [
        c
        for row in result.trials
        for c in hub.log(f"{MODEL}:{row['branch']}")
        if c.meta["sweep"]["event"] == "exploit"
    ]
    assert exploits, "no member was exploited"
    for commit in exploits:
        sweep = commit.meta["sweep"]
        donor = hub.resolve_commit(f"{MODEL}:{sweep['source']['commit']}")[1]
        assert commit.tree == donor.tree  # the donor's files, not a copy
        assert donor.id in {i["commit"] for i in commit.lineage["inputs"]}
        assert set(sweep["explore"]) == set(SPACE)
        for name, change in sweep["explore"].items():
            assert change["how"] == "perturb" and change["from"] == donor.params[name]
            assert commit.params[name] == change["to"]
        assert sweep["step"] == donor.meta["sweep"]["step"]
    edges = family_tree(hub, result.trials)
    assert {(e["from"], e["to"]) for e in edges} == {
        (c.meta["sweep"]["source"]["trial"], c.meta["sweep"]["trial"]) for c in exploits
    }


def notebook_project(project: Path) -> Path:
    write_notebook(project / "train.ipynb", NOTEBOOK_PARAMETERS, NOTEBOOK_TRAIN)
    return project


@pytest.mark.slow
def test_a_notebook_objective_runs_under_papermill_and_checkpoints(hub: Hub, project: Path) -> None:
    file = sweep_file(
        notebook_project(project), notebook="train.ipynb", space=LR_ONLY, sampler="random", trials=2
    )
    for row, top in checkpointed(hub, run(hub, file), 2):
        assert top.metrics["lr"] == row["params"]["lr"]  # papermill injected the params
        assert top.lineage["caller"] == {"kind": "notebook", "path": "train.ipynb"}
        executed = (
            project / ".assethub" / "sweeps" / "toy" / "trials" / row["trial"] / "train.ipynb"
        )
        tags = [c["metadata"].get("tags", []) for c in json.loads(executed.read_text())["cells"]]
        assert ["injected-parameters"] in tags


@pytest.mark.slow
def test_pbt_restarts_an_exploited_notebook_with_the_explored_params(
    hub: Hub, project: Path
) -> None:
    """The slow bad member copies the good one; its notebook runs again from the copied
    checkpoint with the new hyperparameters, injected by papermill."""
    pbt = {"population": 2, "interval": 2, "quantile": 0.5, "resample_probability": 0.0}
    file = sweep_file(
        notebook_project(project), notebook="train.ipynb", algorithm="pbt", pbt=pbt,
        space=LR_ONLY, steps=4, workers=2,
    )  # fmt: skip
    os.environ["TOY_GATE"] = str(project / "gate")  # the good member saves step 2 first
    try:
        result = run(hub, file)
    finally:
        del os.environ["TOY_GATE"]
    assert [t["state"] for t in result.trials] == ["complete"] * 2
    logs = {row["trial"]: hub.log(f"{MODEL}:{row['branch']}") for row in result.trials}
    exploited = [
        t for t, log in logs.items() if any(c.meta["sweep"]["event"] == "exploit" for c in log)
    ]
    assert len(exploited) == 1, "the bad member was not exploited"
    log = logs[exploited[0]]
    last = next(i for i, c in enumerate(log) if c.meta["sweep"]["event"] == "exploit")
    exploit, after = log[last], log[:last]
    donor = hub.resolve_commit(f"{MODEL}:{exploit.meta['sweep']['source']['commit']}")[1]
    assert exploit.tree == donor.tree and donor.params["lr"] == 0.5
    assert after, "the notebook did not go on after the exploit"
    assert [c.meta["sweep"]["step"] for c in reversed(after)] == list(
        range(exploit.meta["sweep"]["step"] + 1, 5)
    )
    for c in after:  # the restarted notebook ran with the explored value, injected by papermill
        assert c.params == exploit.params and c.metrics["lr"] == exploit.params["lr"]
    row = next(r for r in result.trials if r["trial"] == exploited[0])
    assert row["params"] == exploit.params and row["value"] == pytest.approx(log[0].metrics["acc"])


def family_tree(hub: Hub, trials: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Who copied whom, from lineage alone: an input that is a commit of the same model."""
    owner = {}
    for row in trials:
        for c in hub.log(f"{MODEL}:{row['branch']}"):
            owner.setdefault(c.id, c.meta["sweep"]["trial"])
    edges = []
    for row in trials:
        for c in hub.log(f"{MODEL}:{row['branch']}"):
            for i in c.lineage["inputs"]:
                if i["asset"] == MODEL and c.meta["sweep"]["trial"] == row["trial"]:
                    edges.append({"from": owner[i["commit"]], "to": row["trial"]})
    return edges


def _wait_for(predicate: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials; opened as the sweep opens it, since polling while the sweep
    creates the schema races it ("table studies already exists")."""
    try:
        return optuna.load_study(study_name="toy", storage=open_storage(storage, 1)).get_trials()
    except KeyError:
        return []


@pytest.mark.slow
def test_a_sweep_killed_halfway_resumes_keeping_finished_trials(
    hub: Hub, project: Path, cli: Cli, hub_home: Path
) -> None:
    file = sweep_file(project, trials=4, steps=4)
    storage = f"sqlite:///{hub_home}/sweeps.sqlite"
    env = {
        **subprocess_env(),
        "ASSETHUB_HOME": str(hub_home),
        "ASSETHUB_USER": "alice",
        "TOY_SLEEP": "0.4",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "assethub_ext", "sweep", file], env=env, cwd=project
    )
    _wait_for(
        lambda: (
            any(t.state.name == "COMPLETE" for t in _trials(storage))
            and any(t.state.name == "RUNNING" and t.intermediate_values for t in _trials(storage))
        )
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: t.value for t in _trials(storage) if t.state.name == "COMPLETE"}
    done = cli("sweep", file, cwd=project)
    assert done.returncode == 0, done.stderr
    after = _trials(storage)
    assert {t.number: t.value for t in after if t.number in before} == before
    assert sum(t.state.name == "COMPLETE" for t in after) == 4  # the budget, not more
    died = [t for t in after if t.state.name == "FAIL"]
    retries = [t for t in after if t.system_attrs.get("retry_history")]
    assert died and [t.system_attrs["retry_history"][-1] for t in retries] == [
        t.number for t in died
    ]
    retry = head(hub, f"t{retries[0].number:04d}")  # went on from the dead trial's checkpoint
    first = hub.log(f"{MODEL}:sweeps/toy/t{retries[0].number:04d}")[-1]
    assert (
        first.meta["sweep"]["trial"] == f"t{died[0].number:04d}"
        and retry.meta["sweep"]["step"] == 4
    )
    status = cli("sweep", "status", file, "--json", cwd=project)
    assert [t["state"] for t in json.loads(status.stdout)["trials"]].count("complete") == 4


@pytest.mark.slow
def test_two_sweep_processes_share_one_sqlite_study(
    hub: Hub, project: Path, hub_home: Path
) -> None:
    file = sweep_file(project, trials=6, steps=2, workers=1, sampler="random")
    env = {**subprocess_env(), "ASSETHUB_HOME": str(hub_home), "ASSETHUB_USER": "alice"}
    command = [sys.executable, "-m", "assethub_ext", "sweep", file]
    procs = [
        subprocess.Popen(command, env=env, cwd=project, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    trials = _trials(f"sqlite:///{hub_home}/sweeps.sqlite")
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6
    assert "locked" not in "".join(errors)


@pytest.mark.slow
def test_workers_on_a_postgresql_study(hub: Hub, project: Path, postgres: Any) -> None:
    url = postgres.database()
    try:
        result = run(hub, sweep_file(project, storage=url, workers=2, trials=4, steps=2))
        assert result.finished == 4 and result.storage.startswith("postgresql+psycopg://")
        status = sweep_status(study="toy", storage=result.storage)
        assert len(status["trials"]) == 4
    finally:
        postgres.drop(url)


def test_gpu_slots_pack_fractions_and_split_wholes() -> None:
    assert gpu_slots([], 1, 3) == ["", "", ""]
    assert gpu_slots(["0", "1"], 0.5, 8) == ["0", "1", "0", "1"]
    assert gpu_slots(["0", "1", "2", "3"], 2, 4) == ["0,1", "2,3"]
    with pytest.raises(InvalidInput):
        gpu_slots(["0"], 2, 1)


MALFORMED = [
    ("study: toy\n", "needs 'model'"),
    (
        "study: [x]\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {}\n",
        "line 1: study must be",
    ),
    (
        "study: toy\nmodel: a/dataset/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\n",
        "line 2: model",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nspace: {x: {type: int, low: 1, high: 2}}\n",
        "exactly one of",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace:\n  x: {type: int, low: 3, high: 2}\n",
        "line 5: hyperparameter 'x' needs 'low' below",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace:\n  x: {type: float, low: 0, high: 1, log: true}\n",
        "log scale",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace:\n  x: {type: weird}\n",
        "line 5: the type of",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace:\n  x: {type: categorical, choices: []}\n",
        "choices of",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\nsampler: bayes\n",
        "line 5: sampler 'bayes'",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\ntrials: 0\n",
        "at least 1",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\ngpus_per_trial: 0.3\n",
        "1/k",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\nstorage: redis://x\n",
        "Optuna RDB URL",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\npbt: {population: 4}\n",
        "need 'algorithm: pbt'",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\nalgorithm: pbt\npbt: {quantile: 0.9}\n",
        "at most 0.5",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: float, low: 1, high: 2}}\nsampler: grid\n",
        "needs a 'step'",
    ),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\ninputs: {d: 'a/dataset/b/c:'}\n",
        "line 5",
    ),
    ("study: toy\nstudy: again\n", "line 2: 'study' appears twice"),
    (
        "study: toy\nmodel: a/model/b/c\nobjective: obj.py:train\nspace: {x: {type: int, low: 1, high: 2}}\nbogus: 1\n",
        "unknown key 'bogus'",
    ),
    ("study: toy\n  bad: [\n", "not valid YAML"),
    ("", "is empty"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_sweep_files_are_refused_with_their_line(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "obj.py").write_text("def train(ctx): return 1.0\n")
    (tmp_path / "sweep.yaml").write_text(text)
    with pytest.raises(InvalidInput) as err:
        run_sweep(str(tmp_path / "sweep.yaml"), root=str(tmp_path))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "objective",
    [
        "../obj.py:train",
        "/etc/obj.py:train",
        "link/obj.py:train",
        "obj.py:_private",
        "obj.py",
        "os.path;x:f",
        "missing.py:train",
    ],
)
def test_hostile_or_missing_objectives_are_refused(tmp_path: Path, objective: str) -> None:
    project = write_files(tmp_path / "p", {"obj.py": "def train(ctx): return 1.0\n"})
    write_files(tmp_path / "outside", {"obj.py": "def train(ctx): return 1.0\n"})
    (project / "link").symlink_to(tmp_path / "outside")
    file = sweep_file(project, objective=objective)
    with pytest.raises(InvalidInput, match="objective"):
        run_sweep(file, root=str(project))


def test_missing_dataset_model_folder_and_bad_refs_are_one_sentence(
    hub: Hub, project: Path, make_hub: Callable[..., Hub]
) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        run(hub, sweep_file(project, inputs={"data": "alice/dataset/cv/nope:v1"}))
    with pytest.raises(NotFound, match="no branch, tag, version or commit 'v9'"):
        run(hub, sweep_file(project, inputs={"data": f"{DATA}:v9"}))
    with pytest.raises(InvalidInput):
        run(hub, sweep_file(project, inputs={"data": f"{DATA}:bad ref"}))
    with pytest.raises(Exception, match="only 'carol' can create folders"):
        run(hub, sweep_file(project, model="carol/model/cv/x"))


def test_an_objective_that_does_not_load_stops_the_sweep_in_one_sentence(
    hub: Hub, project: Path, cli: Cli
) -> None:
    (project / "broken.py").write_text("import no_such_module_here\n")
    file = sweep_file(project, objective="broken.py:train")
    with pytest.raises(SweepFailed, match="workers stopped"):
        run(hub, file)
    done = cli("sweep", file, cwd=project)
    assert done.returncode == 1 and "cannot load objective broken.py:train" in done.stderr
    assert "Traceback" not in done.stderr
