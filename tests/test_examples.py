"""The example assets that ``make lab`` loads: real data, real training, safe to load twice."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import papermill
import pytest
from conftest import read_files

from assethub_ext import Hub

ROOT = Path(__file__).resolve().parent.parent


def load_examples(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "load_examples.py")],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_examples_load_twice_and_carry_lineage(
    cli_env: dict[str, str], hub_home: Path, tmp_path: Path
) -> None:
    for _ in range(2):
        load_examples(cli_env)
    hub = Hub(str(hub_home), user="someone-else")
    try:
        assert [c.meta["version"] for c in hub.log("demo/dataset/cv/digits")] == ["v2", "v1"]
        hub.checkout("demo/dataset/cv/digits:v1", str(tmp_path / "v1"))
        csv = read_files(tmp_path / "v1")["digits/digits.csv"].decode().splitlines()
        assert len(csv) == 1001 and csv[0].endswith(",label")
        head = hub.show("demo/model/cv/digits-logreg")["commit"]
        assert head.metrics["accuracy"] > 0.9
        v2 = hub.show("demo/dataset/cv/digits:v2")["commit"].id
        assert [i["commit"] for i in head.lineage["inputs"]] == [v2]
        assert {b["name"] for b in hub.branch_list("demo/model/cv/digits-logreg")} == {
            "main",
            "more-data",
        }
        sweeps = hub.describe("demo/model/cv/digits-sweeps")  # for the sweep example, empty
        assert "digits-tpe.yaml" in sweeps["description"]
        assert hub.branch_list("demo/model/cv/digits-sweeps") == []
    finally:
        hub.close()


@pytest.mark.slow
def test_the_paddle_notebook_trains_on_its_pin_and_commits(
    cli_env: dict[str, str], hub_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``examples/train_digits.ipynb`` headless under papermill, as the README runs it."""
    load_examples(cli_env)
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    notebook = tmp_path / "train_digits.ipynb"
    shutil.copy(ROOT / "examples" / "train_digits.ipynb", notebook)
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "out.ipynb"),
        parameters={"epochs": 60, "PAPERMILL_INPUT_PATH": str(notebook)},
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    hub = Hub(str(hub_home), user="demo")
    try:
        head = hub.show("demo/model/cv/digits-paddle")
        commit = head["commit"]
        assert "model.pdparams" in head["tree"] and commit.params["epochs"] == 60
        assert commit.metrics["accuracy"] > 0.85  # a real network really trained
        v2 = hub.show("demo/dataset/cv/digits:v2")["commit"].id
        assert [i["commit"] for i in commit.lineage["inputs"]] == [v2]
        assert commit.lineage["caller"]["path"] == str(notebook)
        assert commit.lineage["papermill"]["parameters"]["epochs"] == 60
        assert commit.lineage["environment"]["packages"]["paddlepaddle"]
    finally:
        hub.close()
    assert (tmp_path / "train_digits.assethub.lock").exists()
