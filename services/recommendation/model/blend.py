"""Online-learned combiner of candidate signals (a River logistic regression)."""

from __future__ import annotations

import numpy as np
from river import linear_model, optim


def inverse_max(f: np.ndarray) -> np.ndarray:
    """Per-signal scale making features scale-free: 1 / (each signal's max for this viewer).

    Features are `f * inverse_max(f)[:, None]`; dividing by the max makes signals
    with very different units comparable. Serving folds the scale into the
    weights instead of dividing the whole matrix. (A log transform, i.e. a
    product of experts, measured worse on MovieLens-100K: recall@10 0.190
    against 0.2045 for this linear form.)

    >>> inverse_max(np.array([[0.0, 1.0, 4.0], [0.0, 0.0, 0.0]])).tolist()
    [0.25, 1.0]
    """
    top = f.max(axis=1)
    top[top <= 0] = 1.0
    return 1.0 / top


class SignalBlender:
    """Learns how much each signal counts, prequentially, as a pairwise ranker.

    On a learned event (viewer, title), before the model learns it, the current
    blend ranks the catalogue; if the watched title is among the top `pool`
    candidates, one other candidate of that pool is drawn and River's
    `LogisticRegression` learns that the watched title beats it, on the
    difference of their normalised signal vectors (no intercept: a pairwise
    model). Training only on events whose title made the pool removes the
    selection bias that sinks naive hard negatives (the pool is selected by the
    very scores being learned, and an unconditioned positive usually ranks below
    it). Measured on MovieLens-100K (prototype, a step on every event):
    pool-conditioned pairwise 0.2072 recall@10, pointwise with uniform negatives
    0.2045, best single signal 0.2050; the Recommender steps every 16th consumption
    (0.2050; every 8th 0.2062) to keep learning cheap.

    Serving reads the weights once per update into a numpy vector (`weights`),
    so ranking is one matrix-vector product. Until `warmup` updates have been
    made, serving uses `prior`.

    >>> b = SignalBlender(("a", "b"), prior=(1.0, 0.0), warmup=1)
    >>> for _ in range(20):
    ...     b.learn_one(np.array([0.2, 1.0]), np.array([1.0, 0.1]))
    >>> bool(b.weights[1] > b.weights[0])
    True
    """

    def __init__(
        self,
        signals: tuple[str, ...],
        prior: tuple[float, ...] | None = None,
        lr: float = 0.1,
        pool: int = 100,
        warmup: int = 200,
    ) -> None:
        self.signals = signals
        self.prior = np.asarray(prior if prior is not None else [1.0] * len(signals), np.float64)
        self.lr = lr
        self.pool = pool
        self.warmup = warmup
        self.model = linear_model.LogisticRegression(
            optimizer=optim.SGD(lr), l2=0.0, intercept_lr=0.0
        )
        self.n_updates = 0
        self.weights = self.prior.copy()

    def learn_one(self, pos: np.ndarray, neg: np.ndarray) -> None:
        """One pairwise step: the title with features `pos` was preferred to `neg`."""
        x = dict(zip(self.signals, (pos - neg).tolist(), strict=True))
        self.model.learn_one(x, True)
        self.n_updates += 1
        if self.n_updates >= self.warmup:
            w = self.model.weights
            self.weights = np.array([w.get(s, 0.0) for s in self.signals], dtype=np.float64)
