"""What of a notebook decides its result: its code cells, read from the ``.ipynb`` JSON.

Shared by the magics (a commit's lineage records the hash) and pipelines (a stage's key
contains it), so the two agree on when a notebook "changed": edits to markdown cells and
outputs do not count.
"""

from __future__ import annotations

import json

from .hashing import hash_bytes


def code_cells(notebook: str) -> list[str] | None:
    """The sources of the code cells, or None if the file is not a readable notebook."""
    try:
        with open(notebook, encoding="utf-8") as f:
            cells = json.load(f).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return sources


def code_hash(cells: list[str]) -> str:
    return hash_bytes("\n\x00\n".join(cells).encode("utf-8"))
