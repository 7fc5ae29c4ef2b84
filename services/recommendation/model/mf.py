"""Positive-only incremental matrix factorisation (ISGD) over growable numpy arrays."""

from __future__ import annotations

import numpy as np

from services.recommendation.model.catalog import grow


class PositiveMF:
    """ISGD (Vinagre, Jorge & Gama, UMAP 2014): one SGD step per event towards r=1.

    A positive event pulls user and item vectors together (target 1), a negative
    one (skip, disliked rating) pushes towards 0, with the step scaled by the
    event's |weight|. User rows are recycled through `free_user` when the user
    store evicts someone, so the user array is bounded by the user cap.

    River's `reco` models keep one dict per id and score with a Python loop; here
    `scores` is one matrix-vector product over the whole catalogue. A read never
    creates vectors: an unknown user scores zero everywhere.

    >>> mf = PositiveMF(n_factors=4, seed=1)
    >>> for _ in range(50):
    ...     mf.learn_one(0, 3)
    >>> bool(mf.scores(0, 5)[3] > 0.5), mf.scores(7, 5).tolist()
    (True, [0.0, 0.0, 0.0, 0.0, 0.0])
    """

    def __init__(
        self, n_factors: int = 16, lr: float = 0.05, l2: float = 0.01, seed: int = 0
    ) -> None:
        self.n_factors = n_factors
        self.lr = lr
        self.l2 = l2
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.p = np.zeros((0, n_factors), dtype=np.float64)
        self.q = np.zeros((0, n_factors), dtype=np.float64)
        self.user_live = np.zeros(0, dtype=bool)
        self.item_live = np.zeros(0, dtype=bool)

    def _init_rows(self, a: np.ndarray, live: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        a = grow(a, r + 1)
        live = grow(live, a.shape[0])
        if not live[r]:
            a[r] = self._rng.normal(0.0, 0.1, self.n_factors)
            live[r] = True
        return a, live

    def learn_one(self, user: int, item: int, weight: float = 1.0) -> None:
        """One SGD step on (user row, item row); creates their vectors if new."""
        if user >= self.user_live.shape[0] or not self.user_live[user]:
            self.p, self.user_live = self._init_rows(self.p, self.user_live, user)
        if item >= self.item_live.shape[0] or not self.item_live[item]:
            self.q, self.item_live = self._init_rows(self.q, self.item_live, item)
        pu = self.p[user]  # views: updated in place
        qi = self.q[item]
        step = self.lr * min(abs(weight), 1.0)
        g = step * ((1.0 if weight > 0 else 0.0) - float(pu.dot(qi)))
        shrink = 1.0 - step * self.l2
        new_qi = shrink * qi + g * pu
        pu *= shrink
        pu += g * qi
        qi[:] = new_qi

    def predict_one(self, user: int, item: int) -> float:
        """Score of one pair; 0 for an unknown user or item (no vector is created)."""
        if not (user < self.user_live.shape[0] and self.user_live[user]):
            return 0.0
        if not (item < self.item_live.shape[0] and self.item_live[item]):
            return 0.0
        return float(self.p[user] @ self.q[item])

    def scores(self, user: int, n: int) -> np.ndarray:
        """Scores of item rows 0..n-1 for a user row (zeros if the user is unknown)."""
        if not (0 <= user < self.user_live.shape[0] and self.user_live[user]):
            return np.zeros(n, dtype=np.float64)
        m = min(n, self.q.shape[0])
        s = self.q[:m] @ self.p[user]
        if m == n:
            return s
        out = np.zeros(n, dtype=np.float64)
        out[:m] = s
        return out

    def free_user(self, user: int) -> None:
        """Forget a user's vector so the row can be reused."""
        if user < self.user_live.shape[0]:
            self.user_live[user] = False
            self.p[user] = 0.0
