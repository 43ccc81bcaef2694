"""Ray Tune's PBT on the very trial function our engine runs: ``bench/sweeps.py`` starts this.

``RayTrialContext`` gives ``examples/sweeps/digits_trial.py:train`` the sweep contract's
context on top of Ray Tune's session: ``report`` + ``save_checkpoint`` become one
``tune.report(metrics, checkpoint=…)``, ``restore_checkpoint`` unpacks ``tune.get_checkpoint()``.
So both systems run the same network, data, epochs and checkpoint files; what differs is the
scheduler. Writes one JSON object (best accuracy, epochs trained, seconds) to ``--result``
(not stdout, where Ray prints its own tables).

    python bench/sweeps_ray.py --data DIR --result OUT.json --trials 8 --steps 12 --interval 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRIAL = ROOT / "examples" / "sweeps" / "digits_trial.py"
METRIC = "val_accuracy"


class RayTrialContext:
    """The sweep contract's ``TrialContext`` surface, backed by Ray Tune's session."""

    def __init__(self, config: dict[str, Any], data: Path, max_steps: int, tally: Path) -> None:
        from ray import tune

        self.study = "ray-pbt"
        self.trial = tune.get_context().get_trial_id()
        self.params = dict(config)
        self.device = "cpu"
        self.max_steps = max_steps
        self.tally = tally
        self.inputs = {"digits": data}
        self._pending: dict[str, float] = {}

    def report(self, step: int, value: float, **metrics: float) -> None:
        # held until the checkpoint: Ray takes metrics and checkpoint in one report
        self._pending = {"step": step, METRIC: value, **metrics}
        with open(self.tally, "a", encoding="utf-8") as tally:  # one short line: one write
            tally.write(f"{self.trial} {step}\n")

    def should_prune(self) -> bool:
        return False  # PBT never prunes; it exploits

    def save_checkpoint(self, folder: Path, step: int) -> str:
        from ray import tune

        tune.report(self._pending, checkpoint=tune.Checkpoint.from_directory(str(folder)))
        return f"{self.trial}@{step}"

    def restore_checkpoint(self, folder: Path) -> int | None:
        from ray import tune

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None
        checkpoint.to_directory(str(folder))
        return int(json.loads((Path(folder) / "model.json").read_text())["step"])


def _trainable(config: dict[str, Any], data: str, max_steps: int, tally: str) -> None:
    spec = importlib.util.spec_from_file_location("digits_trial", TRIAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.train(RayTrialContext(config, Path(data), max_steps, Path(tally)))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """PBT with Ray's defaults but the same interval, space and population as ours; actors
    reused (Ray's advice for PBT), so an exploit does not start a new worker process. Epochs
    are counted as the trials report them, whatever Ray's result tables keep (their rows are
    recorded too, as ``result_rows``)."""
    import ray
    from ray import tune

    tally = args.result.with_suffix(".epochs")  # a line per epoch trained, by every trial
    tally.write_text("")
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    space = {
        "lr": tune.loguniform(1e-4, 0.3),
        "weight_decay": tune.loguniform(1e-6, 1e-1),
        "batch_size": [32, 64, 128, 256],
    }
    scheduler = tune.schedulers.PopulationBasedTraining(
        time_attr="step",
        perturbation_interval=args.interval,
        hyperparam_mutations=space,
    )
    initial = {**space, "batch_size": tune.choice(space["batch_size"])}
    with tempfile.TemporaryDirectory(prefix="ray-pbt-") as storage:
        tuner = tune.Tuner(
            tune.with_resources(
                tune.with_parameters(
                    _trainable, data=str(args.data), max_steps=args.steps, tally=str(tally)
                ),
                {"cpu": 1},
            ),
            param_space=initial,
            tune_config=tune.TuneConfig(
                metric=METRIC,
                mode="max",
                scheduler=scheduler,
                num_samples=args.trials,
                reuse_actors=True,  # what Ray advises for PBT: no new process per exploit
            ),
            run_config=tune.RunConfig(storage_path=storage, name="pbt", verbose=0),
        )
        results = tuner.fit()
        finals = [r.metrics.get(METRIC) for r in results if r.metrics]
        errors = [str(r.error) for r in results if r.error]
        rows = sum(len(r.metrics_dataframe) for r in results if r.metrics_dataframe is not None)
    ray.shutdown()
    return {
        "best": max((f for f in finals if f is not None), default=None),
        "epochs": len(tally.read_text().splitlines()),
        "result_rows": rows,
        "errors": errors,
        "ray": ray.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the digits checked out")
    parser.add_argument("--result", type=Path, required=True, help="where the JSON goes")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--interval", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args)
    result["inner_seconds"] = time.perf_counter() - started
    args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
