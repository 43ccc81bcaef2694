"""Results of ``%asset`` as notebooks show them: HTML tables, with plain text for terminals.

Each result is a small object with ``_repr_html_`` (JupyterLab, papermill outputs) and
``__repr__`` (terminal IPython), so it is shown by whatever front end runs the kernel.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.pins import PinResult
from ..views import (
    CHANGE_MARKS,
    LOG_HEADER,
    SWEEP_HEADER,
    html_table,
    human_size,
    log_row,
    pairs_text,
    sweep_rows,
    text_table,
    when,
)

PIN_MIME = "application/vnd.assethub.pin.v1+json"


@dataclass
class TableView:
    """A titled table: the shape every listing of the magics takes."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    notes: list[str] = field(default_factory=list)

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        empty = "<p><em>(nothing)</em></p>" if not self.rows else ""
        return f"<div><strong>{html.escape(self.title)}</strong>{notes}{html_table(self.header, self.rows) if self.rows else empty}</div>"

    def __repr__(self) -> str:
        body = text_table(self.header, self.rows) or "(nothing)"
        return "\n".join([self.title, *self.notes, body])


def log_view(ref: str, commits: Sequence[Any]) -> TableView:
    return TableView(f"log of {ref}", LOG_HEADER, [log_row(c) for c in commits])


def show_view(info: dict[str, Any]) -> TableView:
    """A commit: one row per fact, as ``git show`` would list them."""
    commit = info["commit"]
    rows: list[list[str]] = [
        ["commit", commit.id],
        ["refs", ", ".join(info["refs"]) or "-"],
        ["kind", commit.kind],
        ["author", commit.author],
        ["time (UTC)", when(commit.created_at)],
        ["message", commit.message or "-"],
        ["files", f"{info['files']} ({human_size(info['size'])})"],
        ["parents", ", ".join(p[:12] for p in commit.parents) or "-"],
    ]
    rows += [[label, pairs_text(values)] for label, values in _labelled(commit) if values]
    rows += [
        ["input", f"{i['ref']} ({i['commit'][:12]})"] for i in commit.lineage.get("inputs", [])
    ]
    caller = commit.lineage.get("caller") or {}
    if caller.get("kind") == "notebook":
        rows.append(
            ["notebook", f"{caller.get('path')} (code {str(caller.get('code_hash'))[:12]})"]
        )
    code = commit.lineage.get("code")
    if code:
        dirty = " + stored patch" if code.get("patch") else ""
        rows.append(
            ["code", f"{code.get('remote') or code.get('root')} @ {code['commit'][:12]}{dirty}"]
        )
    return TableView(f"{info['asset']}:{info['ref']}", ["", ""], rows)


def _labelled(commit: Any) -> list[tuple[str, dict[str, Any]]]:
    return [("params", commit.params), ("metrics", commit.metrics), ("meta", commit.meta)]


def diff_view(diff: Any) -> TableView:
    rows: list[list[Any]] = [
        [CHANGE_MARKS[c.status], c.path, human_size(c.old_size), human_size(c.new_size)]
        for c in diff.changes
    ]
    for label, values in (("param", diff.params), ("metric", diff.metrics)):
        rows += [[label, key, a, b] for key, (a, b) in values.items() if a != b]
    return TableView(f"diff {diff.a} → {diff.b}", ["", "path / name", "a", "b"], rows)


def sweep_view(result: Any) -> TableView:
    best = result.best
    title = f"sweep {result.study}: {result.finished} of {result.budget} trials"
    if best:
        title += f"; best {best['trial']} = {best['value']:.6g}"
    return TableView(title, SWEEP_HEADER, sweep_rows(result.trials))


def pins_view(lock_path: str, statuses: Sequence[dict[str, Any]]) -> TableView:
    rows = [
        [
            s["ref"],
            s["commit"][:12],
            s["dir"],
            "error: " + s["error"]
            if s.get("error")
            else ("newer available" if s["newer"] else "up to date"),
        ]
        for s in statuses
    ]
    return TableView(
        f"pins of {os.path.basename(lock_path)}", ["REF", "COMMIT", "FOLDER", "STATUS"], rows
    )


class Note(str):
    """A one-line result (``committed …``) shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


class PinnedAsset:
    """What ``%asset pin`` returns: where the files are, and which commit they are.

    ``pinned / "train.csv"`` is a path inside the pinned folder; ``os.fspath(pinned)`` is
    the folder itself.
    """

    def __init__(self, result: PinResult) -> None:
        self.ref = result.pin.ref
        self.asset = result.pin.asset
        self.commit = result.pin.commit
        self.path = Path(result.path)
        self.message = result.commit.message
        self.params = dict(result.commit.params)
        self.metrics = dict(result.commit.metrics)
        self.meta = dict(result.commit.meta)
        self.previous = result.previous.commit if result.moved and result.previous else None

    @property
    def version(self) -> str | None:
        """The dataset version (``v2``) the pinned commit is, if it is one."""
        version = self.meta.get("version")
        return str(version) if version else None

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def __fspath__(self) -> str:
        return str(self.path)

    def summary(self) -> str:
        what = f"{self.commit[:12]}" + (f" ({self.version})" if self.version else "")
        if self.previous:
            return f"moved pin {self.ref} from {self.previous[:12]} to {what}; files in {self.path}"
        return f"pinned {self.ref} at {what}; files in {self.path}"

    def mime_bundle(self, lock_path: str) -> dict[str, Any]:
        """The display_data the panel mirrors into the notebook's metadata."""
        record = {
            "ref": self.ref,
            "asset": self.asset,
            "commit": self.commit,
            "dir": os.path.relpath(self.path, os.path.dirname(lock_path)),
            "lock": os.path.basename(lock_path),
        }
        return {PIN_MIME: record, "text/plain": self.summary()}

    def __repr__(self) -> str:
        return f"PinnedAsset({self.ref!r}, commit={self.commit[:12]!r}, path={str(self.path)!r})"
