"""Stage templates end to end: train, continue from a model version, evaluate a version.

Tiny notebooks under real papermill: "training" adds ``steps`` to a weight read from the
checkpoint it starts from (so a continued model proves which checkpoint it was given), and
"evaluating" scores the weight of the version it was handed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_files
from test_pipeline import states, write_notebook

from assethub_ext import Hub

NET = "alice/model/cv/net"
RAW = "alice/dataset/cv/raw"

Cli = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow

PIPELINE = f"""\
stages:
  train:
    template: train
    notebook: train.ipynb
    parameters: {{steps: 2}}
    inputs: {{data: {RAW}:main}}
    outputs:
      model: {{to: {NET}:main, from: model}}
    metrics: model/metrics.json
  finetune:
    template: continue
    notebook: train.ipynb
    from: train.model
    parameters: {{steps: 3}}
    inputs: {{data: {RAW}:main}}
    outputs:
      model: {{to: {NET}:finetuned, from: model}}
    metrics: model/metrics.json
  evaluate:
    template: evaluate
    notebook: evaluate.ipynb
    from: finetune.model
    inputs: {{data: {RAW}:main}}
    metrics: report/metrics.json
    report: report
"""

TRAIN = """\
import json, pathlib
start = int(pathlib.Path(checkpoint, 'w.txt').read_text()) if checkpoint else 0
weight = start + steps * len(pathlib.Path(data, 'rows.csv').read_text().splitlines())
pathlib.Path('model').mkdir()
pathlib.Path('model/w.txt').write_text(str(weight))
pathlib.Path('model/metrics.json').write_text(json.dumps({'weight': weight}))
"""
EVALUATE = """\
import json, pathlib
weight = int(pathlib.Path(model, 'w.txt').read_text())
pathlib.Path('report').mkdir()
pathlib.Path('report/metrics.json').write_text(json.dumps({'score': weight * 10}))
pathlib.Path('report/report.md').write_text(f'score {weight * 10}')
"""


def project(root: Path, text: str = PIPELINE) -> Path:
    root.mkdir()
    (root / "assethub.yaml").write_text(text)
    write_notebook(root / "train.ipynb", "data = ''\nsteps = 1\ncheckpoint = ''", TRAIN)
    write_notebook(root / "evaluate.ipynb", "data = ''\nmodel = ''", EVALUATE)
    return root


@pytest.fixture
def raw(hub: Hub, tmp_path: Path) -> Hub:
    hub.create(RAW)
    hub.add(RAW, [str(write_files(tmp_path / "raw", {"rows.csv": "1\n2\n"}) / "rows.csv")])
    hub.publish(RAW)
    return hub


def test_train_continue_and_evaluate_land_where_each_template_says(
    cli: Cli, raw: Hub, tmp_path: Path
) -> None:
    root = project(tmp_path / "p")

    def run(*args: str) -> dict[str, str]:
        done = cli("run", "--json", *args, cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
        return states(done)

    assert run() == {"train": "ran", "finetune": "ran", "evaluate": "ran"}
    trained = raw.show(f"{NET}:main")["commit"]
    assert trained.metrics == {"weight": 4} and trained.parents == ()
    shown = raw.show(f"{NET}:finetuned")
    tuned = shown["commit"]
    assert tuned.metrics == {"weight": 4 + 6}  # started from the trained checkpoint
    assert tuned.parents == (trained.id,)
    assert trained.id in {i["commit"] for i in tuned.lineage["inputs"]}
    [evaluation] = shown["evaluations"]
    assert evaluation.kind == "evaluation" and evaluation.parents == (tuned.id,)
    assert evaluation.metrics == {"score": 100}
    assert set(raw.load_tree(evaluation.tree)) == {"metrics.json", "report.md"}
    assert raw.objects.read_bytes(evaluation.meta["run"]["executed_notebook"])
    assert raw.show(f"{NET}:main")["evaluations"] == []
    assert [c.id for c in raw.log(f"{NET}:finetuned")] == [tuned.id, trained.id]  # no eval on it

    assert run() == {"train": "skipped", "finetune": "skipped", "evaluate": "skipped"}
    spec = root / "assethub.yaml"
    spec.write_text(spec.read_text().replace("{steps: 3}", "{steps: 1}"))
    assert run() == {"train": "skipped", "finetune": "ran", "evaluate": "ran"}
    again = raw.show(f"{NET}:finetuned")
    assert again["commit"].parents == (tuned.id, trained.id)  # the branch's history is kept
    assert again["commit"].metrics == {"weight": 6}
    assert [e.metrics for e in again["evaluations"]] == [{"score": 60}]
    assert len(raw.show(f"{NET}:{tuned.id}")["evaluations"]) == 1

    shown_json = json.loads(cli("show", "--json", f"{NET}:finetuned").stdout)
    assert [e["metrics"] for e in shown_json["evaluations"]] == [{"score": 60}]
    assert "evaluation:" in cli("show", f"{NET}:finetuned").stdout
    raw.gc(grace_seconds=0)
    assert len(raw.show(f"{NET}:{tuned.id}")["evaluations"]) == 1  # kept by gc
    assert raw.fsck().ok


def test_a_model_version_named_by_ref_is_continued_and_evaluated(
    cli: Cli, raw: Hub, tmp_path: Path
) -> None:
    first = project(tmp_path / "first")
    assert cli("run", "train", cwd=first).returncode == 0
    trained = raw.show(NET)["commit"]
    text = f"""\
stages:
  more:
    template: continue
    notebook: train.ipynb
    from: {NET}:main
    inputs: {{data: {RAW}}}
    outputs:
      model: {{to: {NET}:more, from: model}}
  score:
    template: evaluate
    notebook: evaluate.ipynb
    from: {NET}:main
    metrics: report/metrics.json
    report: report
"""
    second = project(tmp_path / "second", text)
    done = cli("run", "--json", cwd=second)
    assert states(done) == {"more": "ran", "score": "ran"}, done.stderr
    more = raw.show(f"{NET}:more")["commit"]
    assert more.parents == (trained.id,) and more.metrics == {}
    assert int(raw.objects.read_bytes(raw.load_tree(more.tree)["w.txt"].digest)) == 4 + 2
    assert [e.metrics for e in raw.show(NET)["evaluations"]] == [{"score": 40}]

    lock = (second / "assethub.lock").read_text()
    assert f"{NET}:main: {trained.id}" in lock and f"{RAW}:main:" in lock
    spec = first / "assethub.yaml"
    spec.write_text(spec.read_text().replace("{steps: 2}", "{steps: 5}"))
    assert cli("run", "train", cwd=first).returncode == 0  # the model's main moves on
    moved = raw.show(NET)["commit"].id
    why = {r["name"]: r["reasons"] for r in json.loads(cli("status", "--json", cwd=second).stdout)}
    assert (
        why["more"][0]
        == f"{NET}:main moved since assethub.lock ({trained.id[:12]} -> {moved[:12]})"
    )
    done = cli("run", "--frozen", "--json", cwd=second)
    assert states(done) == {"more": "skipped", "score": "skipped"}, done.stderr
    assert (second / "assethub.lock").read_text() == lock  # frozen: the lock stays
    assert states(cli("run", "--json", "score", cwd=second)) == {"score": "ran"}
    assert f"{NET}:main: {moved}" in (second / "assethub.lock").read_text()
    assert [e.metrics for e in raw.show(NET)["evaluations"]] == [{"score": 100}]

    spec = second / "assethub.yaml"
    spec.write_text(spec.read_text().replace(f"data: {RAW}", f"data: {RAW}:v1"))
    done = cli("run", "--frozen", cwd=second)
    assert done.returncode == 2
    assert (
        done.stderr
        == f"error: assethub.lock holds no commit for {RAW}:v1; run without --frozen first.\n"
    )
    (second / "assethub.lock").write_text("refs: [1, 2]\n")
    done = cli("status", cwd=second)
    assert done.returncode == 2 and "assethub.lock is not a lock file" in done.stderr
