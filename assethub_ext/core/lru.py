"""A least-recently-used cache bounded by the total weight of what it holds.

For values that never go stale (trees named by their hash, answers about immutable
commits): nothing is ever invalidated, only dropped when room is needed.
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
        """Keep ``value``, dropping the least recently used; one heavier than the bound is not kept."""
        weight = self._weight(value)
        if weight > self.max_weight or key in self._values:
            return
        self._values[key] = value
        self._held += weight
        while self._held > self.max_weight:
            _, dropped = self._values.popitem(last=False)
            self._held -= self._weight(dropped)
