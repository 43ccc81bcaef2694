"""Random search, TPE and PBT through ``assethub sweep``, and Ray Tune's PBT, on the digits.

Every search trains the same PaddlePaddle MLP (``examples/sweeps/digits_trial.py:train``) on
the same pinned digits, over the same space (``digits-pbt.yaml``'s: learning rate, weight
decay, batch size), with the same budget of training steps: ``--trials`` trials (the
population, under PBT) of ``--steps`` epochs each, ``--workers`` at a time, no pruning. Each
sweep is timed as one whole subprocess, start-up included. The best validation accuracy is
the best trial's final value. Epochs trained are counted from what each system recorded (for
ours, the checkpoint and exploit commits on the trial branches; for Ray, the reported rows):
equal budgets are checked, not assumed.

    python bench/sweeps.py [--trials 8] [--steps 12] [--interval 3] [--workers 2] [--repeat 1]

Ray Tune runs where ``ray[tune]`` imports (the ``bench`` extra); elsewhere the results say it
did not. Results: ``bench/results/DATE-HOST-Ncpu-sweeps.{md,json}``. No target is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ROOT / "examples" / "sweeps"
MODEL = "demo/model/cv/digits-sweeps"
METRIC = "val_accuracy"
ALGORITHMS = ("random", "tpe", "pbt")
LABELS = {"random": "random search", "tpe": "TPE", "pbt": "PBT", "ray-pbt": "Ray Tune PBT"}


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="trials, or PBT's population")
    parser.add_argument("--steps", type=int, default=12, help="epochs per trial")
    parser.add_argument("--interval", type=int, default=3, help="PBT's perturbation interval")
    parser.add_argument("--workers", type=int, default=2, help="trials at a time")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each search (seeds 0..)")
    parser.add_argument("--no-ray", action="store_true", help="leave Ray Tune out")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETHUB_")}
    env.update(ASSETHUB_HOME=str(work / "hub"), ASSETHUB_USER="demo")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


class CommandFailed(Exception):
    """A timed command exited non-zero; the message ends with the tail of its stderr."""


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """A whole subprocess, timed from start to exit; its stdout."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-3:])
        raise CommandFailed(f"`{' '.join(command[1:3])} …` exited {done.returncode}: {tail}")
    return took, done.stdout


def prepare(work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """The digits published in a fresh hub (by the examples loader), a project folder with a
    copy of the example (sweeps keep their work folders there), and the digits checked out
    for Ray at the same version the sweep files pin."""
    run([sys.executable, str(ROOT / "examples" / "load_examples.py")], ROOT, env)
    project = work / "project"
    shutil.copytree(SWEEPS, project / "examples" / "sweeps")
    data = work / "digits"
    pinned = yaml.safe_load((SWEEPS / "digits-pbt.yaml").read_text())["inputs"]["digits"]
    run([sys.executable, "-m", "assethub_ext", "checkout", pinned, str(data)], ROOT, env)
    return project, data


def _sweep_file(project: Path, algorithm: str, args: argparse.Namespace, seed: int) -> Path:
    """The shipped PBT file's space and objective, with this bench's budget and algorithm."""
    spec = yaml.safe_load((SWEEPS / "digits-pbt.yaml").read_text())
    spec.update(
        study=f"bench-{algorithm}-{seed}", steps=args.steps, workers=args.workers, seed=seed
    )
    if algorithm == "pbt":
        spec["pbt"] = {**spec["pbt"], "population": args.trials, "interval": args.interval}
    else:
        del spec["pbt"]
        spec.update(algorithm="optuna", sampler=algorithm, pruner="none", trials=args.trials)
    path = project / f"{spec['study']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _epochs(env: dict[str, str], study: str) -> int:
    """Epochs the trials trained, from the hub: one per checkpoint commit, and one per exploit
    (the loser trained the epoch whose report lost, then took the donor's checkpoint)."""
    from assethub_ext import Hub

    with Hub(env["ASSETHUB_HOME"], user="demo") as hub:
        branches = [b["name"] for b in hub.branch_list(MODEL)]
        ours = [b for b in branches if b.startswith(f"sweeps/{study}/")]
        return sum(len(hub.log(f"{MODEL}:{b}")) for b in ours)


def _ours(
    algorithm: str, project: Path, env: dict[str, str], args: argparse.Namespace, seed: int
) -> dict[str, Any]:
    file = _sweep_file(project, algorithm, args, seed)
    seconds, out = run(
        [sys.executable, "-m", "assethub_ext", "sweep", str(file), "--json"], project, env
    )
    result = json.loads(out)
    best = result["best"]["value"] if result.get("best") else None
    return {"best": best, "seconds": seconds, "epochs": _epochs(env, result["study"])}


def _ray(data: Path, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    result = data.parent / "ray-result.json"
    command = [sys.executable, str(ROOT / "bench" / "sweeps_ray.py"), "--data", str(data)]
    for flag in ("trials", "steps", "interval", "workers"):
        command += [f"--{flag}", str(getattr(args, flag))]
    seconds, _ = run([*command, "--result", str(result)], ROOT, env)
    record = json.loads(result.read_text())
    if record["errors"]:  # a trial that failed would make the comparison meaningless
        last = record["errors"][0].strip().splitlines()[-1]
        raise CommandFailed(f"{len(record['errors'])} Ray trial(s) failed, the first with: {last}")
    return {**record, "seconds": seconds}


def _ray_missing() -> str | None:
    """Why Ray Tune cannot run here, or None."""
    if importlib.util.find_spec("ray") is None:
        return "ray is not installed in this interpreter (pip install 'ray[tune]')"
    try:
        import ray.tune  # noqa: F401
    except ImportError as err:
        return f"ray.tune does not import: {err}"
    return None


def _machine() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "hostname": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "load_average": os.getloadavg(),
        "versions": {n: version(n) for n in ("assethub-ext", "optuna", "paddlepaddle", "ray")},
    }  # fmt: skip


def _table(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Medians over the repetitions; ratios against Ray Tune's PBT when it ran."""
    med = {
        name: {k: statistics.median(r[k] for r in rs if r[k] is not None) for k in ("best", "seconds", "epochs")}
        for name, rs in runs.items() if rs and any(r["best"] is not None for r in rs)
    }  # fmt: skip
    peer = med.get("ray-pbt")
    lines = [
        "| search | best val. accuracy | epochs trained | wall time | time ratio (Ray / ours) | accuracy vs Ray |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in med.items():
        ratio = f"{peer['seconds'] / m['seconds']:.2f}x" if peer else "—"
        delta = f"{100 * (m['best'] - peer['best']):+.1f} pt" if peer else "—"
        lines.append(
            f"| {LABELS[name]} | {m['best']:.4f} | {m['epochs']:.0f} | {m['seconds']:.1f} s | {ratio} | {delta} |"
        )
    return lines


def _report(
    args: argparse.Namespace,
    runs: dict[str, list[dict[str, Any]]],
    ray_note: str | None,
    problems: list[str],
    total: float,
) -> str:
    machine = _machine()
    today = datetime.date.today().isoformat()
    host = f"{machine['hostname']}-{machine['cpus']}cpu"
    lines = [
        f"# Sweeps: random search, TPE, PBT through Asset Hub, and Ray Tune's PBT ({today}, {host})",
        "",
        f"The digits MLP (PaddlePaddle {machine['versions']['paddlepaddle']}, CPU) over lr, weight decay and batch size; "
        f"{args.trials} trials (PBT: population) x {args.steps} epochs, {args.workers} at a time, no pruning; "
        f"PBT interval {args.interval}, quantile 0.25, factors 0.8/1.2, resample 0.25 for both PBTs. "
        f"Median of {args.repeat} run(s) (seeds 0..{args.repeat - 1}); wall time is the whole command, start-up included. "
        f"Optuna {machine['versions']['optuna']}, Ray {machine['versions']['ray'] or 'absent'}. "
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in machine['load_average'])}. Whole run {total / 60:.1f} min.",
        "",
        *_table(runs),
        "",
    ]
    if ray_note:
        lines += [f"Ray Tune: not run ({ray_note}).", ""]
    if problems:
        lines += ["## Problems", "", *(f"- {p}" for p in problems), ""]
    markdown = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{today}-{host}-sweeps"
    stem.with_suffix(".md").write_text(markdown)
    record = {"date": today, "machine": machine, "args": {k: str(v) for k, v in vars(args).items()},
              "runs": runs, "ray": ray_note or "ran", "problems": problems,
              "total_seconds": total}  # fmt: skip
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    _log(f"wrote {stem}.md and .json")
    return markdown


def _measure(
    name: str,
    seed: int,
    measure: Callable[[], dict[str, Any]],
    runs: dict[str, list[dict[str, Any]]],
    problems: list[str],
) -> None:
    """One search; a failure is listed in the results (and the exit status), not fatal."""
    try:
        runs[name].append(measure())
    except CommandFailed as failed:
        problems.append(f"{LABELS[name]}, seed {seed}: {failed}")
        _log(f"{name} (seed {seed}) FAILED: {failed}")
        return
    _log(f"{name} (seed {seed}): {runs[name][-1]}")


def main() -> int:
    """Exit 1 when a search failed (the results list it), else 0; no target is asserted."""
    args = _parse_args()
    ray_note = "left out (--no-ray)" if args.no_ray else _ray_missing()
    work = Path(tempfile.mkdtemp(prefix="assethub-sweep-bench-"))
    started = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in (*ALGORITHMS, "ray-pbt")}
    problems: list[str] = []
    try:
        env = environment(work)
        project, data = prepare(work, env)
        for seed in range(args.repeat):
            for algorithm in ALGORITHMS:
                ours = functools.partial(_ours, algorithm, project, env, args, seed)
                _measure(algorithm, seed, ours, runs, problems)
            if ray_note is None:
                _measure("ray-pbt", seed, functools.partial(_ray, data, env, args), runs, problems)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(_report(args, runs, ray_note, problems, time.perf_counter() - started))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
