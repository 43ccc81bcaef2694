"""GPU utilisation and trials per hour with several sweep trials per GPU against one at a time.

For a GPU machine (there is none on the development VM). For each packing k in ``--pack``
(default 1, 2, 4, 8 trials per GPU) it runs the same random-search sweep of the digits trial
with ``gpus_per_trial: 1/k`` and ``workers: k x GPUs``, while ``nvidia-smi`` samples every
GPU's utilisation and memory every 200 ms. Per packing: the mean utilisation over the sweep
(and its 90th percentile), peak memory, wall time and trials per hour; ratios against k=1.
The issue's target is above 80% utilisation with several trials per GPU.

    python bench/sweeps_gpu.py                      # PyTorch trial (digits_trial_torch.py)
    python bench/sweeps_gpu.py --framework paddle   # needs a CUDA build of PaddlePaddle
    python bench/sweeps_gpu.py --trials 32 --steps 20 --hidden 2048 --pack 1 4 8

The digits MLP is tiny: one trial leaves a GPU mostly idle, waiting on Python and kernel
launches, which is what packing trials is for. ``--hidden`` and ``--batch`` make each step
heavier. Where no GPU is found the sweeps still run (on the CPU, as the engine says) and the
results say "no GPU": a smoke test of this script, not a measurement.
Results: ``bench/results/DATE-HOST-sweeps-gpu.{md,json}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml
from sweeps import ROOT, SWEEPS, CommandFailed, environment, prepare, run

QUERY = [
    "nvidia-smi",
    "--query-gpu=index,utilization.gpu,memory.used",
    "--format=csv,noheader,nounits",
]
OBJECTIVES = {
    "torch": "examples/sweeps/digits_trial_torch.py:train",
    "paddle": "examples/sweeps/digits_trial.py:train",
}


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=sorted(OBJECTIVES), default="torch")
    parser.add_argument("--pack", type=int, nargs="+", default=[1, 2, 4, 8], help="trials per GPU")
    parser.add_argument("--trials", type=int, default=16, help="trials per sweep")
    parser.add_argument("--steps", type=int, default=10, help="epochs per trial")
    parser.add_argument("--hidden", type=int, default=1024, help="the MLP's width (fixed)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (fixed)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args()


class Sampler:
    """``nvidia-smi -lms 200`` in the background: (GPU index, utilisation %, MiB) rows."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float]] = []
        self.available = shutil.which("nvidia-smi") is not None
        self.proc: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        if self.available:
            self.proc = subprocess.Popen([*QUERY, "-lms", "200"], stdout=subprocess.PIPE, text=True)
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 3 and all(p.replace(".", "").isdigit() for p in parts):
                self.rows.append((int(parts[0]), float(parts[1]), float(parts[2])))

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
        if self.thread is not None:
            self.thread.join()

    def summary(self) -> dict[str, Any]:
        if not self.rows:
            return {"gpus": 0, "mean_util": None, "p90_util": None, "peak_mib": None, "samples": 0}
        utils = [u for _, u, _ in self.rows]
        deciles = statistics.quantiles(utils, n=10) if len(utils) > 1 else utils * 9
        return {
            "gpus": len({g for g, _, _ in self.rows}),
            "mean_util": statistics.fmean(utils),
            "p90_util": deciles[-1],
            "peak_mib": max(m for _, _, m in self.rows),
            "samples": len(self.rows),
        }


def gpu_count() -> int:
    if shutil.which("nvidia-smi") is None:
        return 0
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())


def sweep_file(project: Path, args: argparse.Namespace, pack: int, gpus: int) -> Path:
    """Random search (no pruning) of lr and weight decay at a fixed width and batch size."""
    spec = yaml.safe_load((SWEEPS / "digits-tpe.yaml").read_text())
    spec["space"] = {
        **{k: spec["space"][k] for k in ("lr", "weight_decay")},
        "hidden": {"type": "categorical", "choices": [args.hidden]},
        "batch_size": {"type": "categorical", "choices": [args.batch]},
    }
    spec.update(
        study=f"gpu-pack{pack}", objective=OBJECTIVES[args.framework], sampler="random",
        pruner="none", trials=args.trials, steps=args.steps, workers=pack * max(gpus, 1),
        gpus_per_trial=1 / pack, seed=0,
    )  # fmt: skip
    path = project / f"gpu-pack{pack}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def measure(
    project: Path, env: dict[str, str], args: argparse.Namespace, pack: int, gpus: int
) -> dict[str, Any]:
    file = sweep_file(project, args, pack, gpus)
    with Sampler() as sampler:
        seconds, out = run(
            [sys.executable, "-m", "assethub_ext", "sweep", str(file), "--json"], project, env
        )
    result = json.loads(out)
    return {
        "pack": pack, "seconds": seconds, "trials_per_hour": args.trials * 3600 / seconds,
        "best": (result.get("best") or {}).get("value"), **sampler.summary(),
    }  # fmt: skip


def report(args: argparse.Namespace, rows: list[dict[str, Any]], gpus: int) -> str:
    today = datetime.date.today().isoformat()
    names = (
        subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
        if gpus
        else ""
    )
    base = rows[0]
    lines = [
        f"# Sweep trials per GPU: utilisation and throughput ({today}, {platform.node()})",
        "",
        f"GPUs: {names.strip() or 'no GPU (a smoke run on the CPU, not a measurement)'}.",
        f"{args.framework} trial, MLP width {args.hidden}, batch {args.batch}; random search of lr and weight decay, "
        f"{args.trials} trials x {args.steps} epochs per sweep; utilisation sampled by nvidia-smi every 200 ms.",
        "",
        "| trials per GPU | workers | mean GPU util. | p90 util. | peak memory | wall time | trials per hour | vs 1 per GPU |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        util = f"{r['mean_util']:.0f}%" if r["mean_util"] is not None else "—"
        p90 = f"{r['p90_util']:.0f}%" if r["p90_util"] is not None else "—"
        mem = f"{r['peak_mib']:.0f} MiB" if r["peak_mib"] is not None else "—"
        lines.append(
            f"| {r['pack']} | {r['pack'] * max(gpus, 1)} | {util} | {p90} | {mem} | {r['seconds']:.1f} s "
            f"| {r['trials_per_hour']:.0f} | {r['trials_per_hour'] / base['trials_per_hour']:.2f}x |"
        )
    markdown = "\n".join(
        [*lines, "", "Target (issue 8): above 80% GPU utilisation with several trials per GPU.", ""]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{today}-{platform.node()}-sweeps-gpu"
    stem.with_suffix(".md").write_text(markdown)
    record = {
        "date": today,
        "gpus": names.splitlines(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
    }
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return markdown


def main() -> int:
    """Exit 1 when a packing failed (its error is printed), else 0."""
    args = _parse_args()
    gpus = gpu_count()
    work = Path(tempfile.mkdtemp(prefix="assethub-sweep-gpu-bench-"))
    try:
        env = environment(work)
        project, _ = prepare(work, env)
        rows = []
        for pack in args.pack:
            try:
                rows.append(measure(project, env, args, pack, gpus))
            except CommandFailed as failed:  # the other packings still tell something
                print(f"{pack} per GPU FAILED: {failed}", file=sys.stderr, flush=True)
                continue
            print(f"{pack} per GPU: {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not rows:
        return 1
    print(report(args, rows, gpus))
    return 0 if len(rows) == len(args.pack) else 1


if __name__ == "__main__":
    sys.exit(main())
