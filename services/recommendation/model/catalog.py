"""The title catalogue: external ids to dense rows, with growable per-title arrays."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable

import numpy as np

ItemId = Hashable


def grow(a: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
    """Return `a` with at least `n` rows along axis 0 (capacity doubles, so appends are O(1)).

    >>> grow(np.zeros((2, 3)), 3).shape
    (16, 3)
    """
    if n <= a.shape[0]:
        return a
    cap = max(n, 2 * a.shape[0], 16)
    out = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


def grow_square(a: np.ndarray, n: int) -> np.ndarray:
    """Return the square matrix `a` grown to at least n x n, zero-filled."""
    if n <= a.shape[0]:
        return a
    cap = max(n, 2 * a.shape[0], 16)
    out = np.zeros((cap, cap), dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out


class Catalog:
    """Item ids, genres, regions and release times as arrays indexed by row.

    Titles arrive either through `add_item` (from the catalogue feed: genres,
    regions, release time) or implicitly on their first event. Rows are never
    reused: the catalogue is bounded by the number of titles, not events.

    >>> c = Catalog()
    >>> c.add_item("m1", genres=["Drama"], regions=["FR"], release_ts=10.0)
    0
    >>> c.row("m2"), c.row("m2", create=True), len(c)
    (-1, 1, 2)
    >>> bool(c.available("FR")[0]), bool(c.available("FR")[1]), bool(c.available("US")[0])
    (True, True, False)
    """

    def __init__(self) -> None:
        self.ids: list[ItemId] = []
        self.index: dict[ItemId, int] = {}
        self.genre_index: dict[str, int] = {}
        self.genres = np.zeros((0, 8), dtype=np.float32)  # row -> genre one-hot (cols grow)
        self.release_ts = np.zeros(0, dtype=np.float64)
        self.known = np.zeros(0, dtype=bool)  # added through the catalogue feed
        # region -> rows available there; a title without a region list is everywhere
        self.region_rows: dict[str, np.ndarray] = {}
        self.everywhere = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, item: ItemId, create: bool = False) -> int:
        """Row of `item`, -1 if unknown (a read never adds it unless `create`)."""
        r = self.index.get(item, -1)
        if r >= 0 or not create:
            return r
        r = len(self.ids)
        self.ids.append(item)
        self.index[item] = r
        n = r + 1
        self.genres = grow(self.genres, n)
        self.release_ts = grow(self.release_ts, n)
        self.known = grow(self.known, n)
        self.everywhere = grow(self.everywhere, n)
        self.everywhere[r] = True
        for reg, mask in self.region_rows.items():
            self.region_rows[reg] = grow(mask, n)
        return r

    def add_item(
        self,
        item: ItemId,
        genres: Iterable[str] = (),
        regions: Iterable[str] = (),
        release_ts: float = 0.0,
    ) -> int:
        """Register or update a title's metadata; returns its row."""
        r = self.row(item, create=True)
        self.genres[r] = 0.0
        for g in genres:
            col = self.genre_index.setdefault(g, len(self.genre_index))
            if col >= self.genres.shape[1]:
                wider = np.zeros((self.genres.shape[0], 2 * self.genres.shape[1]), np.float32)
                wider[:, : self.genres.shape[1]] = self.genres
                self.genres = wider
            self.genres[r, col] = 1.0
        regs = list(regions)
        self.everywhere[r] = not regs
        for mask in self.region_rows.values():
            mask[r] = False
        for reg in regs:
            if reg not in self.region_rows:
                self.region_rows[reg] = np.zeros(self.everywhere.shape[0], dtype=bool)
            self.region_rows[reg][r] = True
        self.release_ts[r] = release_ts
        self.known[r] = True
        return r

    def available(self, region: str = "") -> np.ndarray:
        """Boolean mask over rows of titles playable in `region` ("" = any region)."""
        n = len(self.ids)
        if not region:
            return np.ones(n, dtype=bool)
        mask = self.region_rows.get(region)
        if mask is None:
            return self.everywhere[:n].copy()
        return self.everywhere[:n] | mask[:n]

    def rows_of(self, items: Iterable[ItemId]) -> np.ndarray:
        """Rows of the known ids among `items` (unknown ids are dropped)."""
        rows = np.fromiter(map(self.index.get, items, itertools.repeat(-1)), dtype=np.int64)
        return rows[rows >= 0]
