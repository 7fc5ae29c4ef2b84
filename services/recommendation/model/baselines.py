"""Global popularity (incremental counts): the baseline every model must beat."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from services.recommendation.model.catalog import Catalog, ItemId, grow
from services.recommendation.model.feedback import Feedback, is_consumption


class Popularity:
    """Recommends the most consumed titles so far; same learn/serve API as Recommender.

    >>> pop = Popularity()
    >>> for item in ["a", "b", "b"]:
    ...     pop.learn_one(Feedback("u", item, "complete", 0.0))
    >>> pop.recommend("v", 2, exclude=["b"])
    [('a', 1.0)]
    """

    def __init__(self) -> None:
        self.catalog = Catalog()
        self.counts = np.zeros(0, dtype=np.float64)

    def learn_one(self, fb: Feedback) -> None:
        if not is_consumption(fb):
            return
        r = self.catalog.row(fb.item, create=True)
        self.counts = grow(self.counts, r + 1)
        self.counts[r] += 1.0

    def recommend(
        self, user: object, k: int = 10, exclude: Iterable[ItemId] = ()
    ) -> list[tuple[ItemId, float]]:
        n = len(self.catalog)
        s = self.counts[:n].copy()
        ex = self.catalog.rows_of(exclude)
        if ex.size:
            s[ex] = -np.inf
        k = min(k, int(np.isfinite(s).sum()))
        if k <= 0:
            return []
        cand = np.argpartition(-s, k - 1)[:k] if k < n else np.arange(n)
        cand = cand[np.lexsort((cand, -s[cand]))]
        return [(self.catalog.ids[r], float(s[r])) for r in cand]
