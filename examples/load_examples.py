"""Load the example assets into the hub named by the environment (safe to run twice).

- ``demo/dataset/cv/digits``: scikit-learn's bundled 8x8 digits as CSV; ``v1`` holds the
  first 1,000 images, ``v2`` all 1,797 (nothing is downloaded).
- ``demo/model/cv/digits-logreg``: logistic regression trained on ``v1`` (``main``) and on
  ``v2`` with a stronger regularisation (branch ``more-data``, merged into ``main``), each
  commit carrying its params, metrics and the dataset version it was trained on.
- ``demo/model/cv/digits-paddle``: empty until ``examples/train_digits.ipynb`` commits the
  PaddlePaddle network it trains on a pinned version of the digits.
- ``demo/model/cv/digits-sweeps``: empty until ``assethub sweep examples/sweeps/digits-tpe.yaml``
  (or ``digits-pbt.yaml``) gives each trial a branch ``sweeps/<study>/<trial>``; created here
  so the panel lists it (with how to fill it) before any sweep ran.

Folders are owned by ``demo`` and shared with everyone for editing, so whoever opens
JupyterLab can browse, pin, derive and publish.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from assethub_ext import Hub
from assethub_ext.core.errors import AlreadyExists

DATASET = "demo/dataset/cv/digits"
MODEL = "demo/model/cv/digits-logreg"
PADDLE_MODEL = "demo/model/cv/digits-paddle"
SWEEP_MODEL = "demo/model/cv/digits-sweeps"


def write_digits(folder: Path, count: int) -> None:
    digits = load_digits()
    rows = np.column_stack([digits.data[:count].astype(int), digits.target[:count]])
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / "digits.csv", rows, fmt="%d", delimiter=",", header=header, comments="")
    (folder / "README.md").write_text(
        f"# digits\n\n{count} grey-scale 8x8 images of hand-written digits (scikit-learn's copy of"
        " the UCI optical digits data); columns p0..p63 are pixels 0-16, `label` is 0-9.\n"
    )


def train(data_dir: Path, out: Path, c: float) -> dict[str, float]:
    table = np.loadtxt(data_dir / "digits" / "digits.csv", delimiter=",", skiprows=1)
    x, y = table[:, :64] / 16.0, table[:, 64].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "coef.npy", model.coef_)
    np.save(out / "intercept.npy", model.intercept_)
    (out / "model.json").write_text(
        json.dumps({"kind": "logistic-regression", "classes": list(range(10))})
    )
    return {"accuracy": round(float(model.score(x_test, y_test)), 4)}


def load_dataset(hub: Hub, work: Path) -> None:
    hub.create(DATASET, "scikit-learn's 8x8 hand-written digits")
    for count in (1000, 1797):
        write_digits(work / f"d{count}" / "digits", count)
        hub.add(DATASET, [str(work / f"d{count}" / "digits")])
        hub.publish(DATASET, f"{count} images")


def load_model(hub: Hub, work: Path) -> None:
    hub.create(MODEL, "logistic regression on the digits")
    for version, c, branch in (("v1", 1.0, "main"), ("v2", 0.5, "more-data")):
        data = work / f"data-{version}"
        hub.checkout(f"{DATASET}:{version}", str(data))
        if branch != "main":
            hub.branch_create(f"{MODEL}:main", branch)
        metrics = train(data, work / f"model-{version}", c)
        hub.commit(
            f"{MODEL}:{branch}",
            str(work / f"model-{version}"),
            message=f"train on digits {version}",
            params={"C": c, "max_iter": 2000},
            metrics=metrics,
            inputs=[f"{DATASET}:{version}"],
        )
    hub.merge(MODEL, "more-data")
    hub.tag(MODEL, "baseline")
    hub.create(PADDLE_MODEL, "a small PaddlePaddle MLP, trained by examples/train_digits.ipynb")


def main() -> None:
    hub = Hub(user="demo")
    try:
        hub.init()
        existing = {item["path"] for item in hub.ls("demo")}
        with tempfile.TemporaryDirectory() as tmp:
            if "demo/dataset/cv" not in existing:
                load_dataset(hub, Path(tmp))
            if "demo/model/cv" not in existing:
                load_model(hub, Path(tmp))
        with contextlib.suppress(AlreadyExists):  # also into a hub loaded before it existed
            hub.create(
                SWEEP_MODEL,
                "the digits MLP's sweeps: assethub sweep examples/sweeps/digits-tpe.yaml",
            )
        for folder in ("demo/dataset/cv", "demo/model/cv"):
            hub.share(folder, "*", "edit")
        print(f"examples ready in {hub.config.home}: {DATASET} (v1, v2), {MODEL} (main, more-data)")
    finally:
        hub.close()


if __name__ == "__main__":
    main()
