"""A least-recently-used cache bounded by the total weight of what it holds.

For values that never go stale (trees named by their hash, answers about immutable
commits) nothing is ever invalidated, only dropped when room is needed; a value that can
go stale is kept with what it was made at (lineage graphs with the hub's count of writes)
and replaced under its key when it has.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class WeightedLRU(Generic[K, V]):
    """Keeps values while their summed ``weight`` stays within ``max_weight``."""

    def __init__(self, max_weight: int, weight: Callable[[V], int]) -> None:
        self.max_weight = max_weight
        self._weight = weight
        self._values: OrderedDict[K, V] = OrderedDict()
        self._held = 0

    def get(self, key: K) -> V | None:
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` (instead of any under ``key``), dropping the least recently used;
        one heavier than the bound is not kept."""
        weight = self._weight(value)
        if weight > self.max_weight:
            return
        replaced = self._values.pop(key, None)
        if replaced is not None:
            self._held -= self._weight(replaced)
        self._values[key] = value
        self._held += weight
        while self._held > self.max_weight:
            _, dropped = self._values.popitem(last=False)
            self._held -= self._weight(dropped)
