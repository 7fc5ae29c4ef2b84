"""Cold-start rankings shared by every viewer without history, kept between model updates.

A viewer with no history is ranked by signals that do not depend on them
(trending for their region and device, popularity, appeal), so every such
viewer asking with the same region, device, filter and k gets the same ranked
list, up to the exploration slot (which is drawn per viewer). Computing it
costs a blend over the whole catalogue plus a genre-diverse greedy pick; on a
10,000-title catalogue that was most of the CPU of a Recommend call when most
callers are new or expired viewers. This keeps the last lists, tagged with the
model's update counter, and serves them while the model has moved by at most
``refresh`` updates (a new title always invalidates: the catalogue size is part
of the key).

>>> import numpy as np
>>> lists = ColdLists(refresh=2, size=4)
>>> mask = np.ones(3, dtype=bool)
>>> key = ("FR", "tv", 10, None)
>>> lists.get(key, mask, version=5) is None
True
>>> lists.put(key, mask, ColdList(5, np.zeros(3), mask, np.array([1, 0]), np.array([2])))
>>> lists.get(key, mask, version=7).top.tolist()
[1, 0]
>>> lists.get(key, mask, version=8) is None  # three updates later: recomputed
True
>>> lists.get(key, ~mask, version=5) is None  # another filter
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ColdList:
    """One cold-start ranking: scores, allowed rows, the diverse top and the fresh titles."""

    version: int  # the model's update counter when it was computed
    scores: np.ndarray  # float64 per catalogue row, -inf where not allowed
    allowed: np.ndarray  # bool per catalogue row
    top: np.ndarray  # catalogue rows, best first (before the exploration slot)
    fresh: np.ndarray  # rows eligible for the exploration slot, not already in `top`


class ColdLists:
    """A small LRU of :class:`ColdList` keyed by (request key, mask), valid for ``refresh`` updates."""

    def __init__(self, refresh: int = 500, size: int = 64) -> None:
        if refresh < 0 or size < 1:
            raise ValueError(f"refresh must be >= 0 and size >= 1, got {refresh}, {size}")
        self.refresh = refresh
        self.size = size
        self._lists: OrderedDict[tuple[Hashable, int], tuple[np.ndarray, ColdList]] = OrderedDict()

    @staticmethod
    def _mask_key(mask: np.ndarray) -> int:
        return hash(np.packbits(mask).tobytes())

    def get(self, key: Hashable, mask: np.ndarray, version: int) -> ColdList | None:
        """The list for ``key`` and ``mask`` if it is at most ``refresh`` updates old."""
        full = (key, self._mask_key(mask))
        hit = self._lists.get(full)
        if hit is None:
            return None
        kept_mask, entry = hit
        if version - entry.version > self.refresh or not np.array_equal(kept_mask, mask):
            del self._lists[full]
            return None
        self._lists.move_to_end(full)
        return entry

    def put(self, key: Hashable, mask: np.ndarray, entry: ColdList) -> None:
        """Keep ``entry`` (the oldest list goes once ``size`` are kept)."""
        self._lists[(key, self._mask_key(mask))] = (mask.copy(), entry)
        while len(self._lists) > self.size:
            self._lists.popitem(last=False)

    def clear(self) -> None:
        """Forget every list."""
        self._lists.clear()

    def __len__(self) -> int:
        return len(self._lists)
