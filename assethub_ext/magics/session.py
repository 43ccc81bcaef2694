"""Which notebook a kernel runs, and what of it a commit's lineage should record.

A kernel is not told its notebook's path in one standard way, so the places are tried in
order: ``ASSETHUB_NOTEBOOK`` (set by Asset Hub's own pipeline runs and settable by anyone),
papermill's injected ``PAPERMILL_INPUT_PATH`` (``papermill --inject-paths``), the
``__session__`` that ipykernel sets from jupyter-server's ``JPY_SESSION_NAME``, and VS
Code's ``__vsc_ipynb_file__``. A session that names no notebook keeps its pins in
``assethub.lock`` in its working folder.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..core.notebooks import code_cells, code_hash
from ..core.pins import PinFile, lock_path_for

PAPERMILL_MARK = "# Parameters"


def _notebook_hint(user_ns: dict[str, Any]) -> str | None:
    for value in (
        os.environ.get("ASSETHUB_NOTEBOOK"),
        user_ns.get("PAPERMILL_INPUT_PATH"),
        user_ns.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
        user_ns.get("__vsc_ipynb_file__"),
    ):
        if isinstance(value, str) and value.endswith(".ipynb"):
            return value
    return None


def _locate(hint: str, cwd: str) -> str:
    """An absolute notebook path; a server-relative session name is resolved from the kernel's folder."""
    if os.path.isabs(hint):
        return hint
    candidate = os.path.join(cwd, hint)
    if os.path.exists(candidate):
        return candidate
    return os.path.join(cwd, os.path.basename(hint))  # kernels start in the notebook's folder


def papermill_parameters(cells: Iterable[str]) -> dict[str, Any] | None:
    """The parameters papermill injected, read back from the cell it ran ("# Parameters")."""
    for source in cells:
        if source.lstrip().startswith(PAPERMILL_MARK):
            return _literal_assignments(source)
    return None


def _literal_assignments(source: str) -> dict[str, Any]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    values[target.id] = ast.unparse(node.value)
    return values


@dataclass
class NotebookSession:
    """The notebook behind a kernel: its path, its lock file, its code."""

    user_ns: dict[str, Any]
    cwd: str

    @property
    def notebook(self) -> str | None:
        hint = _notebook_hint(self.user_ns)
        return _locate(hint, self.cwd) if hint else None

    @property
    def lock_path(self) -> str:
        return lock_path_for(self.notebook, self.cwd)

    def pins(self) -> PinFile:
        return PinFile.load(self.lock_path, self._notebook_name())

    def _notebook_name(self) -> str | None:
        notebook = self.notebook
        return os.path.basename(notebook) if notebook else None

    def executed_cells(self) -> list[str]:
        history = self.user_ns.get("In", [])
        return [cell for cell in history if isinstance(cell, str) and cell]

    def caller(self) -> dict[str, Any]:
        """The notebook for a commit's lineage: path and a hash of its code cells.

        The hash is of the notebook file's code cells when the file is known (what a rerun
        would execute), else of the cells this kernel has run.
        """
        notebook = self.notebook
        cells = code_cells(notebook) if notebook else None
        source = "file"
        if cells is None:
            cells, source = self.executed_cells(), "history"
        return {
            "kind": "notebook",
            "path": notebook or "",
            "code_hash": code_hash(cells),
            "code_source": source,
            "code_cells": len(cells),
        }

    def papermill(self) -> dict[str, Any] | None:
        """Papermill's parameters for this run, without its own ``PAPERMILL_*`` paths."""
        parameters = papermill_parameters(self.executed_cells())
        if parameters is None:
            return None
        return {
            "parameters": {k: v for k, v in parameters.items() if not k.startswith("PAPERMILL_")}
        }
