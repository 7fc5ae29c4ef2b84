"""Learned correction of the planner's per-rung values, trained by imitating a clairvoyant expert.

Comyco's idea (MM 2019) on top of MPC instead of in place of it: the planner
scores each first rung ``a`` (best expected QoE of a plan starting with ``a``),
and a linear correction ``c_a = w . x_a`` over a few state-and-action features
is added before the argmax. ``w`` is trained online with a softmax
cross-entropy against the rung an expert with the future known would take
(multinomial logit over ``(score_a + c_a) / temperature``), from the states the
corrected policy itself visits (DAgger). Zero weights are the plain planner,
and the L2 term pulls every weight back toward that.

>>> corr = PolicyCorrection(n_features=2, temperature=1.0, lr=0.5)
>>> x = np.array([[1.0, 0.0], [0.0, 1.0]])  # two rungs, one indicator feature each
>>> scores = np.array([1.0, 0.9])
>>> int(np.argmax(scores + corr.predict_one(x)))
0
>>> for _ in range(20):
...     corr.learn_one(x, scores, expert=1)
>>> int(np.argmax(scores + corr.predict_one(x)))
1
"""

from __future__ import annotations

import math

import numpy as np

# Per-rung interactions first (one weight per rung and feature), then shared action features.
STATE_FEATURES = ("bias", "buffer", "spread", "fresh")
ACTION_FEATURES = ("up", "down", "up_x_buffer", "down_x_buffer", "stall_med", "stall_low")


def action_features(
    n_rungs: int,
    *,
    buffer_s: float,
    last_rung: int,
    download_med_s: np.ndarray,
    download_low_s: np.ndarray,
    spread: float,
    chunks_seen: int,
) -> np.ndarray:
    """Feature matrix (rungs x features) of one decision, in the order ``feature_names``.

    ``download_med_s`` / ``download_low_s`` are each rung's predicted download time at the
    median and at the pessimistic scenario; ``spread`` is the log range of the scenarios.

    >>> x = action_features(3, buffer_s=6.0, last_rung=1, download_med_s=np.array([1.0, 2.0, 8.0]),
    ...                     download_low_s=np.array([2.0, 4.0, 16.0]), spread=1.0, chunks_seen=3)
    >>> x.shape, float(x[2, -2]), float(x[2, -1])
    ((3, 18), 2.0, 10.0)
    """
    state = np.array([1.0, min(buffer_s, 60.0) / 60.0, spread, 1.0 / (1.0 + chunks_seen)])
    x = np.zeros((n_rungs, n_rungs * len(state) + len(ACTION_FEATURES)))
    for a in range(n_rungs):
        x[a, a * len(state) : (a + 1) * len(state)] = state
    rungs = np.arange(n_rungs)
    up = (rungs > last_rung).astype(float)
    down = (rungs < last_rung).astype(float)
    level = min(buffer_s, 60.0) / 60.0
    tail = x[:, n_rungs * len(state) :]
    tail[:, 0] = up
    tail[:, 1] = down
    tail[:, 2] = up * level
    tail[:, 3] = down * level
    # Predicted stall seconds, clipped: beyond a few chunks' worth the plan is ruled out anyway.
    tail[:, 4] = np.clip(download_med_s - buffer_s, 0.0, 12.0)
    tail[:, 5] = np.clip(download_low_s - buffer_s, 0.0, 12.0)
    return x


def feature_names(n_rungs: int) -> list[str]:
    """Column names of ``action_features`` for a ladder of ``n_rungs``."""
    per_rung = [f"r{a}_{f}" for a in range(n_rungs) for f in STATE_FEATURES]
    return per_rung + list(ACTION_FEATURES)


class PolicyCorrection:
    """Linear correction ``c = x @ w`` of the planner's per-rung values (QoE units).

    ``temperature`` (QoE units) sets how sharply the softmax imitates the expert,
    ``lr`` the SGD step, ``l2`` the pull toward the plain planner.
    """

    def __init__(
        self, n_features: int, temperature: float = 0.5, lr: float = 0.02, l2: float = 1e-3
    ) -> None:
        if temperature <= 0 or lr <= 0 or l2 < 0:
            raise ValueError("temperature and lr must be positive, l2 non-negative")
        self.weights = np.zeros(n_features)
        self.temperature = temperature
        self.lr = lr
        self.l2 = l2
        self.n_learned = 0

    def predict_one(self, x: np.ndarray) -> np.ndarray:
        """Correction per rung for one decision's feature matrix (rungs x features)."""
        return x @ self.weights

    def learn_one(self, x: np.ndarray, scores: np.ndarray, expert: int) -> None:
        """One SGD step of softmax cross-entropy toward the expert's rung.

        Rungs the planner ruled out (score -inf, e.g. above a cap) take no probability.
        """
        if not math.isfinite(scores[expert]):
            return  # the expert chose a rung this player may not fetch: nothing to imitate
        z = (scores + self.predict_one(x)) / self.temperature
        z = np.where(np.isfinite(z), z, -np.inf)
        p = np.exp(z - np.max(z))
        p /= p.sum()
        p[expert] -= 1.0
        grad = (p @ x) / self.temperature + self.l2 * self.weights
        self.weights = self.weights - self.lr * grad
        self.n_learned += 1

    def learn_advantage_one(self, x: np.ndarray, scores: np.ndarray, advantage: np.ndarray) -> None:
        """One SGD step of squared error toward measured advantages (policy-iteration mode).

        ``advantage[a]`` is the measured return of rung ``a`` minus that of the rung the
        policy took; the correction learns what the planner's own score gaps miss:
        ``c_a - c_taken ~ advantage_a - (score_a - score_taken)``.
        """
        ok = np.isfinite(scores) & np.isfinite(advantage)
        taken = int(np.argmax(np.where(ok, scores + self.predict_one(x), -np.inf)))
        target = advantage - (scores - scores[taken])
        c = self.predict_one(x)
        residual = np.where(ok, (c - c[taken]) - target, 0.0)
        diff = x - x[taken]
        grad = (residual @ diff) / max(int(ok.sum()), 1) + self.l2 * self.weights
        self.weights = self.weights - self.lr * grad
        self.n_learned += 1
