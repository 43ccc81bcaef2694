"""The example assets that ``make lab`` loads: real data, real training, safe to load twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import read_files

from assethub_ext import Hub

ROOT = Path(__file__).resolve().parent.parent


def test_examples_load_twice_and_carry_lineage(
    cli_env: dict[str, str], hub_home: Path, tmp_path: Path
) -> None:
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "load_examples.py")],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
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
    finally:
        hub.close()
