"""A stage's key: a hash of everything that decides its result.

The notebook's code cells (not its outputs or markdown), the parameters, the commit ids of
its inputs (refs resolved now; another stage's outputs by the commits that stage made; a
template's ``from`` version among them), the contents of its code files, where its outputs
go and how (the template), and the environment (Python and key package versions). Two
runs with the same key would compute the same thing, so the second is skipped and reuses
the first one's commits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from ..core.errors import InvalidInput
from ..core.hashing import hash_bytes, hash_file
from ..core.names import quote
from ..core.notebooks import code_cells, code_hash
from .spec import Pipeline, StageSpec

KEY_FORMAT = 2


def key_environment(env: dict[str, Any]) -> dict[str, Any]:
    """What of the environment (``capture_environment``) decides results: the interpreter
    and key package versions.

    The platform string is left out so that machines alike in what matters share runs.
    """
    return {k: env[k] for k in ("python", "implementation", "packages")}


def notebook_hash(pipeline: Pipeline, stage: StageSpec) -> str:
    cells = code_cells(pipeline.path(stage.notebook))
    if cells is None:
        raise InvalidInput(
            f"stage {quote(stage.name)}: {stage.notebook} is not a readable notebook."
        )
    return code_hash(cells)


def _file_hash(path: str) -> str:
    try:
        return hash_file(path, os.path.getsize(path))
    except OSError as err:
        raise InvalidInput(f"cannot read code file {quote(path)}: {err.strerror}.") from None


@dataclass(frozen=True)
class StageKey:
    """The key and what went into it (kept with the run, and shown by ``status``)."""

    key: str
    parts: dict[str, Any]


def local_parts(pipeline: Pipeline, stage: StageSpec) -> dict[str, Any]:
    """The parts of the key read from the project alone, without the hub (no input commits)
    or the environment: enough to guess, before the hub is open, that a stage will run."""
    return {
        "format": KEY_FORMAT,
        "notebook": {"path": stage.notebook, "code": notebook_hash(pipeline, stage)},
        "parameters": stage.parameters,
        "code": {path: _file_hash(pipeline.path(path)) for path in stage.code},
        "outputs": {name: [str(o.to), o.source] for name, o in sorted(stage.outputs.items())},
        "metrics": stage.metrics,
        "template": [stage.template, stage.start, stage.report],
    }


def stage_key(
    pipeline: Pipeline, stage: StageSpec, inputs: dict[str, str], env: dict[str, Any]
) -> StageKey:
    """The key of ``stage`` given its inputs' commit ids (input name -> commit id)."""
    parts = {
        **local_parts(pipeline, stage),
        "inputs": dict(sorted(inputs.items())),
        "environment": env,
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return StageKey(hash_bytes(text.encode("utf-8")), parts)
