"""``assethub.yaml``: refused before anything runs, with the line, when it is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assethub_ext.core.errors import InvalidInput
from assethub_ext.pipeline.spec import StageOutputRef, load_pipeline, parse_pipeline

GOOD = """\
stages:
  prepare:
    notebook: prepare.ipynb
    parameters: {fraction: 0.2, seed: 0}
    inputs: {digits: demo/dataset/cv/digits:main}
    outputs:
      split: {to: demo/dataset/cv/digits-split, from: split}
    code: [helpers.py]
  train:
    notebook: nb/train.ipynb
    inputs: {data: prepare.split}
    outputs:
      model: {to: demo/model/cv/mlp:main, from: model}
  evaluate:
    notebook: nb/train.ipynb
    inputs: {data: prepare.split, model: train.model}
    outputs:
      report: {to: demo/model/cv/mlp:eval, from: report}
    metrics: report/metrics.json
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("prepare.ipynb", "nb/train.ipynb", "helpers.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    return tmp_path


def refusal(project: Path, text: str) -> str:
    with pytest.raises(InvalidInput) as err:
        parse_pipeline(text, str(project))
    return str(err.value)


def test_a_good_file_gives_typed_stages_in_dependency_order(project: Path) -> None:
    (project / "assethub.yaml").write_text(GOOD)
    pipeline = load_pipeline(str(project))
    assert pipeline.order() == ["prepare", "train", "evaluate"]
    prepare, evaluate = pipeline.stages["prepare"], pipeline.stages["evaluate"]
    assert prepare.parameters == {"fraction": 0.2, "seed": 0}
    assert str(prepare.inputs["digits"]) == "demo/dataset/cv/digits:main"
    assert prepare.outputs["split"].source == "split" and prepare.code == ("helpers.py",)
    assert evaluate.inputs["model"] == StageOutputRef("train", "model")
    assert evaluate.metrics == "report/metrics.json" and evaluate.line == 14
    assert pipeline.graph()["evaluate"] == {"prepare", "train"}
    assert pipeline.needed_for(["train"]) == ["prepare", "train"]
    with pytest.raises(InvalidInput, match="no stage named 'nope'"):
        pipeline.needed_for(["nope"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    code: [helpers.py]\n", "    code: [helpers.py]\n    colour: red\n"),
            "line 9: unknown key 'colour'",
        ),
        (("stages:\n", "stages:\n  x: [\n"), "line 4: not valid YAML"),
        (
            ("    notebook: prepare.ipynb\n", "    notebook: missing.ipynb\n"),
            "line 3: notebook 'missing.ipynb' does not exist",
        ),
        (
            ("    notebook: prepare.ipynb\n", "    notebook: ../prepare.ipynb\n"),
            "line 3: notebook '../prepare.ipynb' must stay inside",
        ),
        (
            ("    notebook: prepare.ipynb\n", "    notebook: /etc/passwd.ipynb\n"),
            "line 3: notebook '/etc/passwd.ipynb' must be a path relative",
        ),
        (
            ("    notebook: prepare.ipynb\n", "    notebook: helpers.py\n"),
            "line 3: notebook 'helpers.py' must be a .ipynb file",
        ),
        (
            ("    code: [helpers.py]\n", "    code: [../x.py]\n"),
            "line 8: code file '../x.py' must stay inside",
        ),
        (
            ("{data: prepare.split}", "{data: prepare.nothing}"),
            "line 11: input 'data' of stage 'train' is prepare.nothing, which no stage makes",
        ),
        (
            ("{data: prepare.split}", "{data: nowhere.split}"),
            "line 11: input 'data' of stage 'train' is nowhere.split",
        ),
        (
            ("{data: prepare.split}", "{data: demo/dataset/cv/digits-split}"),
            "line 11: input 'data' of stage 'train' reads demo/dataset/cv/digits-split:main, which stage 'prepare' writes",
        ),
        (
            ("{digits: demo/dataset/cv/digits:main}", "{digits: train.model}"),
            "line 2: the stages form a cycle: prepare -> train -> prepare",
        ),
        (
            ("{fraction: 0.2, seed: 0}", "{digits: 1}"),
            "line 3: stage 'prepare' names 'digits' both",
        ),
        (
            ("{fraction: 0.2, seed: 0}", "{fraction: 0.2, fraction: 0.3}"),
            "line 4: 'fraction' appears twice",
        ),
        (
            ("{fraction: 0.2, seed: 0}", "{class: 1}"),
            "line 4: parameter 'class' must be a Python variable",
        ),
        (("demo/model/cv/mlp:main", "demo/model/cv/mlp:-x"), "line 13: ref name '-x' is not valid"),
        (
            ("demo/dataset/cv/digits-split,", "demo/dataset/cv/digits-split:v3,"),
            "line 7: output 'split' goes to a dataset",
        ),
        (
            ("demo/model/cv/mlp:eval", "demo/model/cv/mlp:main"),
            "stages 'train' and 'evaluate' both write demo/model/cv/mlp:main",
        ),
        (("from: model}", "from: ../model}"), "line 13: 'from' '../model' must be a relative path"),
        (("from: model}", "}"), "line 13: output 'model' needs 'from'"),
        (("  train:\n", "  'bad name':\n"), "line 9: stage name 'bad name'"),
    ],
)
def test_malformed_files_are_refused_with_their_line(
    project: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    assert expected in refusal(project, GOOD.replace(old, new, 1))


def test_empty_and_shapeless_files_are_refused(project: Path) -> None:
    assert "is empty" in refusal(project, "")
    assert "line 1: unknown key 'version'" in refusal(project, "version: 1\n")
    assert "needs a 'stages:'" in refusal(project, "{}\n")
    assert "declares no stage" in refusal(project, "stages: {}\n")
    assert "must be a mapping" in refusal(project, "stages: [a, b]\n")
    assert "needs 'outputs'" in refusal(project, "stages:\n  a: {notebook: prepare.ipynb}\n")
    with pytest.raises(InvalidInput, match=r"no assethub\.yaml"):
        load_pipeline(str(project))


def test_a_notebook_reached_through_a_link_out_of_the_project_is_refused(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "evil.ipynb").write_text("{}")
    os.symlink(outside, project / "linked")
    text = GOOD.replace("notebook: prepare.ipynb", "notebook: linked/evil.ipynb")
    assert "line 3: notebook 'linked/evil.ipynb' leads out of the project" in refusal(project, text)


TEMPLATES = """\
stages:
  train:
    template: train
    notebook: prepare.ipynb
    inputs: {data: demo/dataset/cv/digits}
    outputs:
      model: {to: demo/model/cv/mlp:main, from: model}
  tune:
    template: continue
    notebook: prepare.ipynb
    from: train.model
    outputs:
      model: {to: demo/model/cv/mlp:tuned, from: model}
  score:
    template: evaluate
    notebook: prepare.ipynb
    from: tune.model
    inputs: {data: demo/dataset/cv/digits}
    metrics: report/metrics.json
    report: report
"""


def test_templates_read_their_model_version_as_an_input(project: Path) -> None:
    pipeline = parse_pipeline(TEMPLATES, str(project))
    tune, score = pipeline.stages["tune"], pipeline.stages["score"]
    assert tune.start == "checkpoint" and tune.inputs["checkpoint"] == StageOutputRef(
        "train", "model"
    )
    assert score.start == "model" and score.evaluates and score.report == "report"
    assert pipeline.order() == ["train", "tune", "score"]
    assert score.describe()["from"] == "tune.model" and score.outputs == {}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("template: train", "template: pretrain"), "line 3: template 'pretrain' is not one of"),
        (
            ("    template: train\n", "    template: train\n    from: demo/model/cv/x:main\n"),
            "line 4: stage 'train' (template train) cannot have 'from': only a 'continue'",
        ),
        (
            ("    from: train.model\n", ""),
            "line 9: stage 'tune' (template continue) needs 'from' (the model version",
        ),
        (
            ("from: train.model", "from: demo/dataset/cv/digits:v1"),
            "line 11: 'from' must be a model version, and demo/dataset/cv/digits is a dataset.",
        ),
        (
            ("mlp:tuned", "other:tuned"),
            "line 11: 'from' of stage 'tune' is a version of demo/model/cv/mlp, so its output "
            "must be a branch of demo/model/cv/mlp, not demo/model/cv/other:tuned.",
        ),
        (
            (
                "      model: {to: demo/model/cv/mlp:main, from: model}\n",
                "      data: {to: demo/dataset/cv/s, from: s}\n",
            ),
            "line 7: stage 'train' (template train) needs exactly one output, a model branch.",
        ),
        (
            ("    report: report\n", ""),
            "line 15: stage 'score' (template evaluate) needs 'report'",
        ),
        (
            ("    report: report\n", "    report: report\n    outputs: {}\n"),
            "line 21: stage 'score' (template evaluate) cannot have 'outputs': an 'evaluate' template attaches",
        ),
        (
            ("    report: report\n", "    report: ../up\n"),
            "line 20: report '../up' must be a relative path",
        ),
        (
            ("from: tune.model", "from: tune.nothing"),
            "line 17: 'from' of stage 'score' is tune.nothing, which no stage makes.",
        ),
        (
            ("from: train.model", "from: demo/model/cv/mlp:tuned"),
            "line 11: 'from' of stage 'tune' reads demo/model/cv/mlp:tuned, which the stage itself writes",
        ),
        (
            (
                "    inputs: {data: demo/dataset/cv/digits}\n    metrics",
                "    inputs: {model: demo/dataset/cv/digits}\n    metrics",
            ),
            "line 17: stage 'score' gets its 'from' version as 'model', so no input",
        ),
        (
            ("    template: train\n", "    report: r\n"),
            "line 3: stage 'train' cannot have 'report': only an 'evaluate' template",
        ),
    ],
)
def test_template_fields_are_checked_with_their_line(
    project: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in TEMPLATES
    assert expected in refusal(project, TEMPLATES.replace(old, new, 1))
