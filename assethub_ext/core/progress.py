"""Progress reporting without tying the core to a front end.

The core asks a ``ProgressFactory`` for a bar and calls ``update``; the CLI passes tqdm
(on a terminal only), the magics an ipywidgets bar, everything else gets ``no_progress``.
"""

from __future__ import annotations

from typing import Protocol


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


class ProgressFactory(Protocol):
    def __call__(self, description: str, total: int, unit: str) -> ProgressBar: ...


class _NullBar:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def no_progress(description: str, total: int, unit: str) -> ProgressBar:
    return _NullBar()
