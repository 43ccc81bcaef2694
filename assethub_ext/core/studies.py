"""Reading hyperparameter sweeps back from the hub: studies, trials, objective curves, PBT edges.

A sweep leaves nothing but branches and commits (the sweep contract): branch
``sweeps/<study>/<trial>`` per trial, one commit per checkpoint, each with metadata ``sweep``
= {study, trial, step, algorithm, event, …}; an exploit commit names its donor checkpoint
among its lineage inputs. So the panel and any client can draw a study from the hub alone,
whatever ran it: this module walks the trials' histories in one query and knows nothing of
Optuna.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from .context import HubContext
from .errors import InvalidInput, NotFound
from .names import parse_asset_path, quote

if TYPE_CHECKING:
    from ..storage.metadata import CommitRow

SWEEP_BRANCHES = "sweeps/"
MAX_SWEEP_COMMITS = 20_000
"""A study read whole; beyond this many checkpoints the oldest are left out (``truncated``)."""
_STUDY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
DIRECTIONS = ("maximize", "minimize")


def check_study_name(text: str) -> str:
    if not _STUDY.fullmatch(text):
        raise InvalidInput(
            f"study name {quote(text)} is not valid: up to 64 ASCII letters, digits, '.', '_' "
            "or '-', starting with a letter or digit."
        )
    return text


def _sweep_meta(commit: CommitRow, study: str) -> dict[str, Any] | None:
    """The commit's ``sweep`` metadata when it is a checkpoint of ``study``."""
    meta = commit.meta.get("sweep")
    if isinstance(meta, dict) and meta.get("study") == study and isinstance(meta.get("trial"), str):
        return meta
    return None


def _number(value: Any) -> float | None:
    """A finite metric value, or None (missing, text, NaN: not plottable)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _step(meta: dict[str, Any]) -> int | None:
    step = meta.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


class StudyOps(HubContext):
    def studies(self, path: str) -> dict[str, Any]:
        """The sweep studies of a model: their names, trial counts and last update."""
        target = parse_asset_path(path)
        with self.meta.read() as conn:
            asset = self._asset(conn, target)
            branches = self.catalog.list_refs(conn, asset.id, "branch")
        found: dict[str, dict[str, Any]] = {}
        for ref in branches:
            parts = ref.name.split("/")
            if len(parts) != 3 or parts[0] != SWEEP_BRANCHES.rstrip("/"):
                continue
            entry = found.setdefault(parts[1], {"study": parts[1], "trials": 0, "updated_at": 0.0})
            entry["trials"] += 1
            entry["updated_at"] = max(entry["updated_at"], ref.updated_at)
        return {"path": str(target), "studies": sorted(found.values(), key=lambda s: s["study"])}

    def study(
        self, path: str, study: str, *, metric: str | None = None, direction: str | None = None
    ) -> dict[str, Any]:
        """One study: each trial's checkpoints (step, objective), its best, and PBT's exploits.

        ``metric`` defaults to the one the sweep recorded (``sweep.metric``), else the first
        metric name in sorted order; ``direction`` to the recorded one, else maximize.
        """
        target = parse_asset_path(path)
        check_study_name(study)
        if direction is not None and direction not in DIRECTIONS:
            raise InvalidInput("direction must be maximize or minimize.")
        prefix = f"{SWEEP_BRANCHES}{study}/"
        with self.meta.read() as conn:
            asset = self._asset(conn, target)
            heads = {
                r.name[len(prefix) :]: r.commit_id
                for r in self.catalog.list_refs(conn, asset.id, "branch")
                if r.name.startswith(prefix)
            }
            if not heads:
                raise NotFound(
                    f"'{target}' has no sweep study {quote(study)} "
                    f"(its trials would be branches {prefix}<trial>)."
                )
            walked = self.meta.ancestors(conn, sorted(set(heads.values())), MAX_SWEEP_COMMITS + 1)
        checkpoints = [(c, m) for c in walked[:MAX_SWEEP_COMMITS] if (m := _sweep_meta(c, study))]
        recorded = Counter(
            m.get("metric") for _, m in checkpoints if isinstance(m.get("metric"), str)
        )
        names = sorted({k for c, _ in checkpoints for k in c.metrics})
        chosen = (
            metric
            or (recorded.most_common(1)[0][0] if recorded else None)
            or next(iter(names), None)
        )
        way = direction or _recorded_direction(checkpoints)
        trials = _trials(prefix, heads, checkpoints, chosen, way)
        return {
            "path": str(target),
            "study": study,
            "algorithm": next(
                (m.get("algorithm") for _, m in checkpoints if m.get("algorithm")), None
            ),
            "metric": chosen,
            "direction": way,
            "metrics": names,
            "trials": trials,
            "edges": _exploit_edges(checkpoints),
            "best": _best([t["best"] for t in trials if t["best"]], way),
            "truncated": len(walked) > MAX_SWEEP_COMMITS,
        }


def _recorded_direction(checkpoints: list[tuple[CommitRow, dict[str, Any]]]) -> str:
    recorded = [m.get("direction") for _, m in checkpoints if m.get("direction") in DIRECTIONS]
    return str(recorded[0]) if recorded else DIRECTIONS[0]


def _best(candidates: list[dict[str, Any]], direction: str) -> dict[str, Any] | None:
    if not candidates:
        return None
    pick = max if direction == "maximize" else min
    return pick(candidates, key=lambda p: p["value"])


def _trials(
    prefix: str,
    heads: dict[str, str],
    checkpoints: list[tuple[CommitRow, dict[str, Any]]],
    metric: str | None,
    direction: str,
) -> list[dict[str, Any]]:
    """One row per trial branch, its checkpoints oldest first."""
    by_trial: dict[str, list[tuple[CommitRow, dict[str, Any]]]] = {t: [] for t in heads}
    for commit, meta in checkpoints:
        by_trial.setdefault(meta["trial"], []).append((commit, meta))
    rows = []
    for trial in sorted(by_trial):
        ordered = sorted(by_trial[trial], key=lambda cm: (_step(cm[1]) or 0, cm[0].created_at))
        points = [
            {
                "step": _step(meta),
                "value": _number(commit.metrics.get(metric)) if metric else None,
                "commit": commit.id,
                "event": "exploit" if meta.get("event") == "exploit" else "checkpoint",
            }
            for commit, meta in ordered
        ]
        scored = [
            {"trial": trial, "commit": p["commit"], "step": p["step"], "value": p["value"]}
            for p in points
            if p["value"] is not None
        ]
        head = next((c for c, _ in ordered if c.id == heads.get(trial)), None)
        rows.append(
            {
                "trial": trial,
                "branch": f"{prefix}{trial}",
                "head": heads.get(trial),
                "params": (head or ordered[-1][0]).params if ordered else {},
                "best": _best(scored, direction),
                "last_step": max(
                    (p["step"] for p in points if p["step"] is not None), default=None
                ),
                "checkpoints": len(points),
                "exploits": sum(p["event"] == "exploit" for p in points),
                "points": points,
            }
        )
    return rows


def _exploit_edges(checkpoints: list[tuple[CommitRow, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Donor checkpoint -> exploit commit, for each exploit whose lineage names a donor of the study."""
    trial_of = {commit.id: meta["trial"] for commit, meta in checkpoints}
    step_of = {commit.id: _step(meta) for commit, meta in checkpoints}
    edges = []
    for commit, meta in checkpoints:
        if meta.get("event") != "exploit":
            continue
        for item in commit.lineage.get("inputs") or []:
            donor = item.get("commit") if isinstance(item, dict) else None
            if donor in trial_of and donor != commit.id:
                edges.append(
                    {
                        "from": donor,
                        "to": commit.id,
                        "from_trial": trial_of[donor],
                        "to_trial": meta["trial"],
                        "from_step": step_of[donor],
                        "step": _step(meta),
                    }
                )
    return edges
