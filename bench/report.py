"""Turning repeated samples into the comparison table, the memory check and the JSON record.

Ratios are DVC's median time over Asset Hub's median time, so "10x" reads as "ten times
faster than DVC". Medians, not means: a shared machine produces occasional slow outliers,
and one of them should not decide a target.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines import ToolRun

INCREMENTAL_SLACK = 3.0
"""How far above strict proportionality the incremental add may be and still count as
proportional: its cost beyond a no-op add may be up to this many times the first add's cost
per file, times the files that changed (a small batch has fixed costs a large one spreads)."""

INCREMENTAL_NOISE = 0.05
"""Plus this fraction of the no-op add's time: the proportional share of 300 changed files
is tens of milliseconds, less than the run-to-run noise of a one-second command."""

MEMORY_BYTES_PER_FILE = 2048
"""What we read as "a small constant per file": the spec names no number. 2 KiB is about
what a Python process needs to hold one path, its stat and its hash."""


@dataclass(frozen=True)
class Row:
    """One line of the table: which samples of each tool it sums, and the target ratio."""

    key: str
    label: str
    dvc_steps: tuple[str, ...]
    ours_steps: tuple[str, ...]
    target: float | None
    """Minimum DVC/ours ratio; ``None`` for an informational row or a rule of its own."""
    target_text: str


def rows_for(files: int, big_label: str) -> list[Row]:
    """The table's rows, labelled with this run's sizes."""
    small = f"{files:,} files"
    return [
        Row(
            "first_add",
            f"first add, {small} (Asset Hub: `add --publish`, one command)",
            ("first_add",),
            ("first_add",),
            10.0,
            "≥ 10x",
        ),
        Row("noop_add", "no-op re-add", ("noop_add",), ("noop_add",), None, "—"),
        Row(
            "touch_add",
            "re-add after touching one file (nothing changed)",
            ("touch_add",),
            ("touch_add",),
            None,
            "—",
        ),
        Row("status", "status, nothing changed", ("status",), ("status",), 10.0, "≥ 10x"),
        Row(
            "status_changed",
            "status after the change",
            ("status_changed",),
            ("status_changed",),
            None,
            "—",
        ),
        Row(
            "incr_add",
            "incremental add after the change",
            ("incr_add",),
            ("incr_add",),
            None,
            "∝ change ¹",
        ),
        Row(
            "checkout_copy",
            "checkout into an empty folder, copy",
            ("checkout_copy",),
            ("checkout_copy",),
            5.0,
            "≥ 5x",
        ),
        Row(
            "checkout_link",
            "checkout into an empty folder, links ²",
            ("checkout_link",),
            ("checkout_link",),
            2.0,
            "≥ 2x",
        ),
        Row(
            "big_add", f"add one {big_label} file, copied", ("big_add",), ("big_add",), 3.0, "≥ 3x"
        ),
        Row(
            "big_add_link",
            f"add one {big_label} file, linked ⁴",
            ("big_add_link",),
            ("big_add_link",),
            3.0,
            "≥ 3x",
        ),
    ]


@dataclass(frozen=True)
class Cell:
    """One tool's figures for one row: median seconds, peak RSS, and every repetition's time."""

    seconds: float | None
    peak_rss: int | None
    samples: list[float]


def _cell(runs: Sequence[ToolRun], steps: tuple[str, ...]) -> Cell:
    """Sum the row's steps within each repetition; repetitions missing a step are left out."""
    totals: list[float] = []
    peaks: list[int] = []
    for run in runs:
        if all(step in run.samples for step in steps):
            totals.append(sum(run.samples[s].seconds for s in steps))
            peaks.append(max(run.samples[s].peak_rss for s in steps))
    if not totals:
        return Cell(None, None, [])
    return Cell(statistics.median(totals), max(peaks), totals)


def _median_step(runs: Sequence[ToolRun], step: str) -> float | None:
    return _cell(runs, (step,)).seconds


def incremental_met(ours: Sequence[ToolRun], changed_files: int, files: int) -> bool | None:
    """Does our incremental add cost a re-add that finds nothing changed plus (about) the
    per-file cost of what changed?

    The base is the touched re-add, not the plain no-op: both compare the files with the
    index, while the plain no-op is answered by the folder's stat stamp, a shortcut that no
    add with a change can take.
    """
    incr, base, first = (_median_step(ours, s) for s in ("incr_add", "touch_add", "first_add"))
    if incr is None or base is None or first is None:
        return None
    allowed = base * (1 + INCREMENTAL_NOISE) + INCREMENTAL_SLACK * first * changed_files / files
    return incr <= allowed


def build_rows(
    rows: list[Row],
    dvc: Sequence[ToolRun],
    ours: Sequence[ToolRun],
    floors: Sequence[ToolRun],
    changed: int,
    files: int,
) -> list[dict[str, Any]]:
    """Every row with both tools' cells, the ratio, whether the target was met, and what the
    target allows (DVC's time over the ratio) beside the machine's floor for that step."""
    result = []
    for row in rows:
        d, o = _cell(dvc, row.dvc_steps), _cell(ours, row.ours_steps)
        ratio = d.seconds / o.seconds if d.seconds and o.seconds else None
        allows = d.seconds / row.target if d.seconds and row.target else None
        met: bool | None = None
        if row.target is not None and ratio is not None:
            met = ratio >= row.target
        elif row.key == "incr_add":
            met = incremental_met(ours, changed, files)
        floor = _cell(floors, (row.key,))
        cells = {"row": row, "dvc": d, "ours": o, "floor": floor}
        result.append({**cells, "ratio": ratio, "met": met, "allows": allows})
    return result


def memory_scaling(
    runs: Sequence[ToolRun], small_files: int, large_files: int
) -> dict[str, Any] | None:
    """Peak RSS of the first add at two sizes: the slope is the cost per file."""
    low, high = _cell(runs, ("mem_add",)), _cell(runs, ("first_add",))
    if low.peak_rss is None or high.peak_rss is None:
        return None
    per_file = (high.peak_rss - low.peak_rss) / (large_files - small_files)
    return {
        "files": [small_files, large_files],
        "peak_rss": [low.peak_rss, high.peak_rss],
        "bytes_per_file": per_file,
        "constant_bytes": low.peak_rss - per_file * small_files,
    }


# -- formatting ------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "failed" if value is None else f"{value:.3f}"


def _optional_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value / 1024**2:.0f} MiB"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}x"


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[value]


def markdown_table(built: list[dict[str, Any]]) -> str:
    header = (
        "| step | DVC s | Asset Hub s | ratio (DVC/ours) | target | met? "
        "| target allows s | machine floor s ⁵ | peak RSS DVC | peak RSS Asset Hub |\n"
        "|---|---:|---:|---:|---|---|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {b['row'].label} | {_seconds(b['dvc'].seconds)} | {_seconds(b['ours'].seconds)} "
        f"| {_ratio(b['ratio'])} | {b['row'].target_text} | {_met(b['met'])} "
        f"| {_optional_seconds(b['allows'])} | {_optional_seconds(b['floor'].seconds)} "
        f"| {_mib(b['dvc'].peak_rss)} | {_mib(b['ours'].peak_rss)} |"
        for b in built
    ]
    return header + "\n".join(lines) + "\n"


def memory_table(scaling: dict[str, dict[str, Any] | None]) -> str:
    lines = [
        "| tool | peak RSS at "
        + " / ".join(f"{n:,}" for n in next(s for s in scaling.values() if s is not None)["files"])
        + " files | bytes per extra file | constant | target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for tool, s in scaling.items():
        if s is None:
            lines.append(f"| {tool} | failed | — | — | — | — |")
            continue
        met = s["bytes_per_file"] <= MEMORY_BYTES_PER_FILE if tool == "Asset Hub" else None
        target = f"≤ {MEMORY_BYTES_PER_FILE} B/file ³" if tool == "Asset Hub" else "—"
        lines.append(
            f"| {tool} | {_mib(s['peak_rss'][0])} / {_mib(s['peak_rss'][1])} "
            f"| {s['bytes_per_file']:.0f} B | {_mib(s['constant_bytes'])} | {target} | {_met(met)} |"
        )
    return "\n".join(lines) + "\n"


def as_json(built: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "step": b["row"].key,
            "label": b["row"].label,
            "dvc_steps": list(b["row"].dvc_steps),
            "assethub_steps": list(b["row"].ours_steps),
            "dvc_seconds": b["dvc"].seconds,
            "assethub_seconds": b["ours"].seconds,
            "dvc_samples": b["dvc"].samples,
            "assethub_samples": b["ours"].samples,
            "ratio": b["ratio"],
            "target_ratio": b["row"].target,
            "target": b["row"].target_text,
            "met": b["met"],
            "target_allows_seconds": b["allows"],
            "floor_seconds": b["floor"].seconds,
            "floor_samples": b["floor"].samples,
            "dvc_peak_rss": b["dvc"].peak_rss,
            "assethub_peak_rss": b["ours"].peak_rss,
        }
        for b in built
    ]


def run_json(run: ToolRun) -> dict[str, Any]:
    """Everything one repetition measured and printed, for later digging."""
    return {
        "tool": run.tool,
        "samples": {
            k: {"seconds": s.seconds, "peak_rss": s.peak_rss} for k, s in run.samples.items()
        },
        "outputs": run.outputs,
        "problems": run.problems,
        "error": run.error,
    }
