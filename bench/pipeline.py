"""The example pipeline with nothing changed: ``assethub run`` against ``dvc repro``.

Both tools get the same three notebooks (``examples/pipeline``) and the same digits data;
DVC runs them through ``papermill`` commands in an equivalent ``dvc.yaml``. Each tool runs
the pipeline once (untimed), then the no-op rerun is timed ``--repeat`` times as one whole
subprocess each, start-up included, alternating which tool goes first. A second table
times one stage whose key changed (``assethub run train`` after a parameter edit) against
bare ``papermill`` on the same notebook: the overhead Asset Hub adds per stage, each pair
back to back (alternating which goes first), so the median of the pairs' ratios is also
given: on a loaded machine it moves less than the ratio of the medians. The load average
before and after is recorded: on a busy machine neither figure says much.

    python bench/pipeline.py [--repeat 5] [--out bench/results] [--name pipeline]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import compile_sources

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

DVC_YAML = """\
stages:
  prepare:
    cmd: papermill -p digits ../../data --cwd work/prepare prepare.ipynb out/prepare.ipynb
    deps: [prepare.ipynb, digits_common.py, data]
    outs: [work/prepare/split]
  train:
    cmd: papermill -p data ../prepare/split --cwd work/train train.ipynb out/train.ipynb
    deps: [train.ipynb, digits_common.py, work/prepare/split]
    outs: [work/train/model]
  evaluate:
    cmd: >-
      papermill -p data ../prepare/split -p model ../train/model --cwd work/evaluate
      evaluate.ipynb out/evaluate.ipynb
    deps: [evaluate.ipynb, digits_common.py, work/prepare/split, work/train/model]
    outs: [work/evaluate/report]
  finetune:
    cmd: >-
      papermill -p data ../prepare/split -p checkpoint ../train/model -p epochs 20
      -p learning_rate 0.003 -p seed 1 --cwd work/finetune train.ipynb out/finetune.ipynb
    deps: [train.ipynb, digits_common.py, work/prepare/split, work/train/model]
    outs: [work/finetune/model]
"""


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return took


def setup(work: Path) -> tuple[Path, Path, dict[str, str]]:
    """An Asset Hub project with the digits published, and a DVC repository with the same files."""
    env = {**os.environ, "ASSETHUB_HOME": str(work / "hub"), "ASSETHUB_USER": "demo"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    compile_sources(ROOT / "assethub_ext")  # the copy that PYTHONPATH makes the commands run
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "load_examples.py")], env=env, check=True
    )
    ours = Path(shutil.copytree(ROOT / "examples" / "pipeline", work / "assethub"))
    dvc = Path(shutil.copytree(ROOT / "examples" / "pipeline", work / "dvc"))
    for stage in ("prepare", "train", "evaluate", "finetune"):
        (dvc / "work" / stage).mkdir(parents=True)
    (dvc / "out").mkdir()
    subprocess.run(
        [sys.executable, "-m", "assethub_ext", "checkout", "demo/dataset/cv/digits:main", str(dvc / "data")],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    (dvc / "dvc.yaml").write_text(DVC_YAML)
    # DVC's papermill commands (and the bare one) import digits_common as Asset Hub's runs do
    env["PYTHONPATH"] = os.pathsep.join((str(dvc), env["PYTHONPATH"]))
    for command in (["git", "init", "-q"], [str(BIN / "dvc"), "init", "-q"]):
        subprocess.run(command, cwd=dvc, env=env, check=True)
    return ours, dvc, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--name", default="pipeline", help="ending of the result files' name")
    args = parser.parse_args()
    load = [os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="assethub-pipeline-bench-"))
    try:
        ours, dvc, env = setup(work)
        run = [sys.executable, "-m", "assethub_ext", "run"]
        repro = [str(BIN / "dvc"), "repro", "-q"]
        first = {"assethub": timed(run, ours, env), "dvc": timed(repro, dvc, env)}
        noop: dict[str, list[float]] = {"assethub": [], "dvc": []}
        for i in range(args.repeat):
            pairs = [("assethub", run, ours), ("dvc", repro, dvc)]
            for name, command, cwd in pairs if i % 2 == 0 else pairs[::-1]:
                noop[name].append(timed(command, cwd, env))
        stage: dict[str, list[float]] = {"assethub": [], "papermill": []}
        spec = ours / "assethub.yaml"
        text = spec.read_text()
        bare = ours / "bare"
        bare.mkdir()
        shutil.copytree(dvc / "work" / "prepare" / "split", bare / "split")
        for i in range(args.repeat):
            spec.write_text(text.replace("epochs: 40", f"epochs: {41 + i}"))
            stage_commands = [
                ("assethub", [*run, "train"]),
                ("papermill", [str(BIN / "papermill"), "--cwd", str(bare), "-p", "data", "split",
                               "-p", "epochs", str(41 + i), str(ours / "train.ipynb"),
                               str(bare / "out.ipynb")]),
            ]  # fmt: skip
            for name, command in stage_commands if i % 2 == 0 else stage_commands[::-1]:
                stage[name].append(timed(command, ours, env))
        load.append(os.getloadavg())
        report(args.out, args.name, first, noop, stage, args.repeat, load)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(
    out: str,
    name: str,
    first: dict[str, float],
    noop: dict[str, list[float]],
    stage: dict[str, list[float]],
    repeat: int,
    load: list[tuple[float, float, float]],
) -> None:
    med = {
        k: statistics.median(v)
        for k, v in {**noop, **{f"stage-{k}": v for k, v in stage.items()}}.items()
    }
    version = subprocess.run(
        [str(BIN / "dvc"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    paired = statistics.median(
        a / b for a, b in zip(stage["assethub"], stage["papermill"], strict=True)
    )
    loads = " and ".join("/".join(f"{x:.1f}" for x in sample) for sample in load)
    today = datetime.date.today().isoformat()
    machine = f"{platform.node()}-{os.cpu_count()}cpu"
    lines = [
        f"# Pipeline: Asset Hub vs DVC {version} and bare papermill ({today}, {machine})",
        "",
        f"Median of {repeat}; whole subprocesses, start-up included. Ratio = peer / Asset Hub.",
        f"Load average (1/5/15 min) before and after: {loads}.",
        "",
        "| step | Asset Hub | peer | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| first run of the example (once) | {first['assethub']:.2f} s | {first['dvc']:.2f} s (dvc repro) | {first['dvc'] / first['assethub']:.2f}x | |",
        f"| rerun, nothing changed | {med['assethub']:.2f} s | {med['dvc']:.2f} s (dvc repro) | {med['dvc'] / med['assethub']:.2f}x | < 1 s and faster than DVC |",
        f"| one stage (train) whose key changed | {med['stage-assethub']:.2f} s | {med['stage-papermill']:.2f} s (papermill) | overhead {100 * (med['stage-assethub'] / med['stage-papermill'] - 1):+.0f}% | < 10% |",
        "",
        f"The stage's pairs, each run back to back: median overhead {100 * (paired - 1):+.1f}%.",
    ]
    Path(out).mkdir(parents=True, exist_ok=True)
    stem = Path(out) / f"{today}-{machine}-{name}"
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "first": first,
                "noop": noop,
                "stage": stage,
                "paired_overhead": paired - 1,
                "load_average": load,
                "dvc": version,
                "machine": machine,
            },
            indent=1,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
