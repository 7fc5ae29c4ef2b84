"""Per-title appeal: how often viewers pick a title over the ones they passed on the same screen."""

from __future__ import annotations

import numpy as np

from services.recommendation.model.catalog import grow


class Appeal:
    """Shrunk pick rate per title from (picked, passed-over) screens, position-debiased.

    A screen where the viewer picked title p after passing over titles a, b
    (shown above it: seen and declined) is one win for p and one trial for each
    of p, a, b. Plays alone conflate appeal with exposure (a title shown in the
    first slot to everyone gets played most); wins over trials of titles the
    viewer really looked at measure appeal itself. The rate is shrunk towards
    the global pick rate with `prior_n` pseudo-trials, so a title with one lucky
    pick does not jump to the top; a title never on a screen scores the global
    rate. Counts are all-time (bounded by the catalogue).

    >>> a = Appeal(prior_n=2.0)
    >>> a.learn_one(0, np.array([1, 2]))
    >>> a.learn_one(0, np.array([1]))
    >>> [round(float(x), 3) for x in a.scores(4)]
    [0.7, 0.2, 0.267, 0.4]
    """

    def __init__(self, prior_n: float = 5.0) -> None:
        self.prior_n = prior_n
        self.wins = np.zeros(0, dtype=np.float64)
        self.trials = np.zeros(0, dtype=np.float64)
        self.total_wins = 0.0
        self.total_trials = 0.0

    def learn_one(self, picked: int, passed: np.ndarray) -> None:
        """Row `picked` was chosen on a screen where rows `passed` were looked at and declined."""
        top = max(picked, int(passed.max()) if passed.size else -1) + 1
        self.wins = grow(self.wins, top)
        self.trials = grow(self.trials, top)
        self.wins[picked] += 1.0
        self.trials[picked] += 1.0
        np.add.at(self.trials, passed, 1.0)
        self.total_wins += 1.0
        self.total_trials += 1.0 + passed.size

    def scores(self, n: int) -> np.ndarray:
        """Shrunk pick rate of rows 0..n-1 (all 0 before any screen)."""
        if not self.total_trials:
            return np.zeros(n, dtype=np.float64)
        rate = self.total_wins / self.total_trials
        out = np.full(n, rate, dtype=np.float64)
        m = min(n, self.wins.shape[0])
        out[:m] = (self.wins[:m] + self.prior_n * rate) / (self.trials[:m] + self.prior_n)
        return out
