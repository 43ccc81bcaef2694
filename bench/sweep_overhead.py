"""Sweep scheduler overhead: per trial, and per PBT exploit step, at two checkpoint sizes.

Per trial: what a worker spends on a trial besides the trial's own work — the worker's
own ``claim`` (stale check, budget count, ask) and ``run`` (suggestions, the trial read
once, its context, heartbeats, telling the result) around an objective that returns at once. Per exploit: choosing a donor from the storage, exploring, and committing the
donor's tree to the loser's branch. The peer is an exploit done by copying the files
(check the donor out, commit it as the loser's checkpoint), which is what a scheduler
without content addressing pays. Target: under 50 ms, independent of checkpoint size.

    python bench/sweep_overhead.py [--repeat 20]     # writes bench/results/<date>-sweep-overhead.{json,md}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from optuna.trial import Trial, TrialState

from assethub_ext import Hub
from assethub_ext.sweeps.context import Exploited, TrialContext
from assethub_ext.sweeps.spec import load_sweep
from assethub_ext.sweeps.study import open_study, suggest
from assethub_ext.sweeps.worker import TrialRunner

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {"1 MiB": 1 << 20, "256 MiB": 256 << 20}
SWEEP = """study: {study}
model: bench/model/sweeps/overhead
objective: obj.py:train
metric: {{name: acc}}
space:
  lr: {{type: float, low: 1.0e-3, high: 0.3, log: true}}
  batch: {{type: categorical, choices: [32, 64, 128]}}
  hidden: {{type: int, low: 16, high: 128}}
steps: 8
trials: 100000
algorithm: {algorithm}
"""


class Samples:
    """Wall-clock and CPU seconds of one kind of step. On a shared machine the wall clock
    also counts the time other processes held the CPU; this process's CPU time does not
    (nor its children's: the ``git`` calls of a trial's first commit)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)

    def summary(self) -> dict[str, float]:
        return {
            "median_ms": round(statistics.median(self.wall) * 1000, 2),
            "max_ms": round(max(self.wall) * 1000, 2),
            "cpu_median_ms": round(statistics.median(self.cpu) * 1000, 2),
        }


def per_trial(root: Path, hub: Hub, repeat: int) -> dict[str, float]:
    (root / "obj.py").write_text("def train(ctx):\n    return 1.0\n")
    (root / "trial.yaml").write_text(SWEEP.format(study="per-trial", algorithm="optuna"))
    spec = load_sweep(str(root / "trial.yaml"), str(root))
    url = f"sqlite:///{root}/sweeps.sqlite"
    open_study(spec, url)
    info = {"storage": url, "worker": 0, "inputs": {}, "pins": {}, "work": str(root)}
    runner = TrialRunner(spec, hub, info, "cpu")
    samples = Samples()
    for _ in range(repeat):
        with samples.timed():
            trial = runner.claim()
            assert trial is not None
            runner.run(trial)
    return samples.summary()


def per_exploit(root: Path, hub: Hub, size: int, repeat: int) -> dict[str, Any]:
    study_name = f"pbt-{size}"
    (root / f"{study_name}.yaml").write_text(SWEEP.format(study=study_name, algorithm="pbt"))
    spec = load_sweep(str(root / f"{study_name}.yaml"), str(root))
    study = open_study(spec, f"sqlite:///{root}/sweeps.sqlite")
    contexts = []
    for member in range(4):
        trial = study.ask()
        for param in spec.space.values():
            suggest(trial, param)
        trial.set_user_attr("member", member)
        contexts.append(TrialContext(spec, hub, Trial(study, trial._trial_id), {}, "cpu"))
    folder = root / f"ckpt-{size}"
    folder.mkdir()
    for number, ctx in enumerate(contexts[1:], start=1):  # three good members with checkpoints
        (folder / "model.bin").write_bytes(os.urandom(size))
        ctx.report(3, 0.9 + number / 100)
        ctx.save_checkpoint(folder, 3)
    loser = contexts[0]
    exploit, copy = Samples(), Samples()
    for _ in range(repeat):
        with exploit.timed(), contextlib.suppress(Exploited):  # the loser copies a donor every time
            loser.report(4, 0.1)
        donor = loser.optuna_trial.study._storage.get_trial(loser.optuna_trial._trial_id)
        source = donor.user_attrs["ckpts"]
        commit = next(iter(source.values()))["commit"]
        with copy.timed(), tempfile.TemporaryDirectory(dir=root) as tmp:  # the peer: move the bytes
            hub.checkout(f"{spec.model}:{commit}", tmp, link="copy")
            os.unlink(os.path.join(tmp, ".assethub-checkout"))
            hub.commit(f"{spec.model}:copied-{size}", tmp, create_branch=True)
    study.tell(loser.optuna_trial, state=TrialState.FAIL)
    return {
        "exploit": exploit.summary(),
        "copy_peer": copy.summary(),
        "ratio": round(statistics.median(copy.wall) / statistics.median(exploit.wall), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        root = Path(tmp)
        os.environ["ASSETHUB_HOME"] = str(root / "hub")
        with Hub(user="bench") as hub:
            hub.create("bench/model/sweeps/overhead")
            results = {
                "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.platform(terse=True)})",
                "date": date.today().isoformat(),
                "repeat": args.repeat,
                "per_trial": per_trial(root, hub, args.repeat),
                "per_exploit": {
                    name: per_exploit(root, hub, size, args.repeat) for name, size in SIZES.items()
                },
            }
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"{results['date']}-sweep-overhead"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1))
    stem.with_suffix(".md").write_text(report(results))
    print(report(results), end="")


def report(results: dict[str, Any]) -> str:
    trial = results["per_trial"]
    load = results["load_average"]
    lines = [
        f"# Sweep scheduler overhead ({results['date']}, {results['machine']})", "",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load['before'])}; "
        f"after: {', '.join(f'{x:.2f}' for x in load['after'])}. Medians over {results['repeat']} "
        "repetitions. CPU is this process's CPU time: on an idle machine the wall clock reads about this "
        "plus the waits for the disk.", "",
        "| step | wall median | wall max | CPU median |",
        "| --- | --- | --- | --- |",
        f"| per trial (the worker's claim and run around an objective that returns at once) | "
        f"{trial['median_ms']} ms | {trial['max_ms']} ms | {trial['cpu_median_ms']} ms |", "",
        "| checkpoint | exploit, no bytes copied (wall / CPU) | exploit by copying files, the peer (wall / CPU) | peer / ours (wall) |",
        "| --- | --- | --- | --- |",
    ]  # fmt: skip
    for name, row in results["per_exploit"].items():
        ours, peer = row["exploit"], row["copy_peer"]
        lines.append(
            f"| {name} | {ours['median_ms']} / {ours['cpu_median_ms']} ms (max {ours['max_ms']}) | "
            f"{peer['median_ms']} / {peer['cpu_median_ms']} ms | {row['ratio']}x |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
