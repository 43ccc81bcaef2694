"""Code shared by the example stages (listed under ``code:`` so that changing it reruns them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_table(path: Path) -> tuple[str, np.ndarray]:
    """The header line and the integer rows of a digits CSV (64 pixels, then the label)."""
    header = path.read_text().split("\n", 1)[0]
    return header, np.loadtxt(path, delimiter=",", skiprows=1, dtype="int64", ndmin=2)


def write_table(path: Path, header: str, rows: np.ndarray) -> None:
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")


def features_labels(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (table[:, :64] / 16.0).astype("float32"), table[:, 64].astype("int64")


def make_net(hidden: int):  # type: ignore[no-untyped-def]  # paddle has no type hints
    import paddle

    return paddle.nn.Sequential(
        paddle.nn.Linear(64, hidden), paddle.nn.ReLU(), paddle.nn.Linear(hidden, 10)
    )
