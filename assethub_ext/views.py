"""How hub objects read, shared by the front ends that print them (the CLI and the magics).

Plain data in, plain strings or JSON-ready dicts out: no Jupyter, no click.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def when(timestamp: float) -> str:
    """A commit time as people read it: UTC, to the second."""
    from datetime import datetime, timezone  # 5 ms that status, the hot command, never needs

    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def pairs_text(values: dict[str, Any], width: int | None = None) -> str:
    """``{"lr": 0.1}`` as ``lr=0.1``, cut to ``width`` characters when given."""
    text = " ".join(f"{k}={v}" for k, v in values.items())
    return text if width is None else text[:width]


def commit_dict(commit: Any) -> dict[str, Any]:
    """A commit row as JSON-ready data."""
    return {
        "id": commit.id,
        "kind": commit.kind,
        "tree": commit.tree,
        "parents": list(commit.parents),
        "author": commit.author,
        "created_at": commit.created_at,
        "message": commit.message,
        "params": commit.params,
        "metrics": commit.metrics,
        "meta": commit.meta,
        "lineage": commit.lineage,
    }


LOG_HEADER = ["COMMIT", "TIME (UTC)", "AUTHOR", "KIND", "MESSAGE", "PARAMS", "METRICS"]


def log_row(commit: Any, width: int | None = None) -> list[str]:
    """One line of a log: short id, time, author, version or kind, message, params, metrics."""
    message = commit.message if width is None else commit.message[:width]
    return [
        commit.id[:12],
        when(commit.created_at),
        commit.author,
        commit.meta.get("version") or commit.kind,
        message,
        pairs_text(commit.params, width),
        pairs_text(commit.metrics, width),
    ]


def json_default(value: Any) -> Any:
    """``json.dumps(default=…)`` for dataclasses, named tuples, sets and mappings."""
    from dataclasses import asdict, is_dataclass  # not at the top: status never needs it

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | tuple):
        return list(value)
    if hasattr(value, "items"):
        return dict(value.items())
    return str(value)


CHANGE_MARKS = {"added": "+", "removed": "-", "changed": "M"}


def change_line(change: Any) -> str:
    """One file of a diff or a status: its mark, its path and its size (or both sizes)."""
    sizes = (
        f"{human_size(change.old_size)} -> {human_size(change.new_size)}"
        if change.status == "changed"
        else human_size(change.new_size if change.new_size is not None else change.old_size)
    )
    return f"{CHANGE_MARKS[change.status]} {change.path}  ({sizes})"


def json_text(value: Any) -> str:
    """What ``--json`` prints: indented, with hub objects turned into plain data."""
    import json

    return json.dumps(value, default=json_default, indent=2)


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; empty when there are no rows."""
    if not rows:
        return ""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """An escaped HTML table (every cell is user data: names, messages, params)."""
    import html  # not at the top: it loads html.entities, 2 ms of every ``status``

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="assethub">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


SWEEP_HEADER = ["#", "STATE", "VALUE", "BEST STEP", "BRANCH", "PARAMS"]


def sweep_rows(trials: list[dict[str, Any]]) -> list[list[str]]:
    """A sweep's trials as table rows (``sweep status``, ``%asset sweep``)."""
    return [
        [
            str(t["number"]),
            t["state"],
            "" if t["value"] is None else f"{t['value']:.6g}",
            "" if t["best_step"] is None else str(t["best_step"]),
            t["branch"],
            ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in t["params"].items()
            ),
        ]
        for t in trials
    ]
