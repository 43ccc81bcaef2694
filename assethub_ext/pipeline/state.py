"""A project's memory of its own runs: ``.assethub/state.json``.

It keeps each stage's last key and that key's parts (and, after a failure, its message), so
``status`` can say what changed, and a run can guess which stages it will start before it
has opened the hub. The run cache itself is in the hub; losing this file loses nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any

STATE_DIR = ".assethub"
STATE_FILE = "state.json"


def read_state(folder: str) -> dict[str, Any]:
    """Stage name -> its last key, parts, run id and failure, from ``folder/state.json``."""
    try:
        with open(os.path.join(folder, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return {}  # no state, or a damaged one: status then says "never run here"
    return state if isinstance(state, dict) else {}
