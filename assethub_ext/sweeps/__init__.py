"""Hyperparameter sweeps: Optuna studies and Population Based Training, every trial a model branch.

``run_sweep("sweep.yaml")`` runs (or resumes) a sweep file; trial code uses
``TrialContext`` (or ``trial_context()`` in a notebook). Imports are lazy, so a trial that
only needs the context does not pay for the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import TrialContext, trial_context
    from .engine import SweepResult, run_sweep, sweep_status
    from .spec import SweepSpec, load_sweep

__all__ = [
    "SweepResult",
    "SweepSpec",
    "TrialContext",
    "load_sweep",
    "run_sweep",
    "sweep_status",
    "trial_context",
]
_HOMES = {
    "TrialContext": "context",
    "trial_context": "context",
    "SweepResult": "engine",
    "run_sweep": "engine",
    "sweep_status": "engine",
    "SweepSpec": "spec",
    "load_sweep": "spec",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'assethub_ext.sweeps' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
