"""How a viewer picks from what the app shows, how long they watch, and how they rate.

The viewer scans rows top to bottom and left to right, each slot less likely
to be looked at than the last (position bias), and takes the examined title of
highest noisy hidden taste, unless leaving the app looks better. How far they
watch, whether they quick-skip, and their star rating all follow the same
hidden taste, so recommendations that match it turn into hours watched.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> model = ChoiceModel(noise=0.01, row_decay=1.0, pos_decay=1.0)
>>> model.choose(rng, np.array([0.1, 2.0, 0.5]), np.zeros(3), np.arange(3), leave_utility=0.0)
1
>>> model.choose(rng, np.array([0.1, 0.2]), np.zeros(2), np.arange(2), leave_utility=5.0) is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def sigmoid(x: float) -> float:
    """Logistic function."""
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class ChoiceModel:
    """Position-biased examination, then a noisy-utility (Gumbel) pick with an outside option."""

    row_decay: float = 0.7  # chance of looking at the next row down
    pos_decay: float = 0.8  # chance of looking one slot further right
    noise: float = 0.35  # Gumbel scale: how noisy the viewer's judgement is
    rewatch_penalty: float = 2.0  # finished titles are rarely picked again

    def choose(
        self,
        rng: np.random.Generator,
        tastes: np.ndarray,
        rows: np.ndarray,
        positions: np.ndarray,
        leave_utility: float,
    ) -> int | None:
        """Index of the picked slot, or None if the viewer leaves (``-inf`` = unplayable)."""
        n = len(tastes)
        if n == 0:
            return None
        look = rng.random(n) < self.row_decay**rows * self.pos_decay**positions
        utility = np.where(look, tastes + self.noise * rng.gumbel(size=n), -np.inf)
        best = int(np.argmax(utility))
        if not np.isfinite(utility[best]):
            return None
        if utility[best] <= leave_utility + self.noise * rng.gumbel():
            return None
        return best


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """Where the viewer means to stop and how the session will end."""

    stop_at_s: float
    end_kind: str  # "complete", "stop" or "skip"


@dataclass(frozen=True)
class WatchModel:
    """Taste-driven watch length, plus abandonment caused by poor playback."""

    skip_center: float = 0.3  # taste where half of the viewers quick-skip (times max_skip)
    max_skip: float = 0.85
    complete_center: float = 1.2
    stall_quit_base: float = 0.04
    stall_quit_per_s: float = 0.05
    low_bitrate_quit: float = 0.002  # per chunk at <= 750 kbps on a big screen

    def plan(
        self, rng: np.random.Generator, taste: float, duration_s: float, start_s: float,
        budget_s: float,
    ) -> WatchPlan:  # fmt: skip
        """Decide (hidden from the services) how far this viewing will go.

        >>> wm = WatchModel()
        >>> rng = np.random.default_rng(1)
        >>> plans = [wm.plan(rng, -2.0, 3600.0, 0.0, 1e9) for _ in range(200)]
        >>> sum(p.end_kind == "skip" for p in plans) > 150
        True
        """
        left = max(duration_s - start_s, 1.0)
        if rng.random() < self.max_skip * sigmoid(-3.0 * (taste - self.skip_center)):
            stop = start_s + min(rng.uniform(15.0, max(0.04 * duration_s, 20.0)), 300.0, left)
            kind = "skip"
        elif rng.random() < sigmoid(2.5 * (taste - self.complete_center)):
            stop, kind = duration_s, "complete"
        else:
            stop, kind = start_s + left * rng.uniform(0.1, 0.9), "stop"
        if stop - start_s > budget_s:
            stop, kind = start_s + max(budget_s, 30.0), "stop"
        return WatchPlan(min(stop, duration_s), kind)

    def quits_after_stall(self, rng: np.random.Generator, rebuffer_s: float) -> bool:
        """A stall may make the viewer give up (more likely the longer it was)."""
        if rebuffer_s <= 0.0:
            return False
        p = min(0.6, self.stall_quit_base + self.stall_quit_per_s * rebuffer_s)
        return bool(rng.random() < p)

    def quits_on_quality(self, rng: np.random.Generator, kbps: int, big_screen: bool) -> bool:
        """A blurry picture on a big screen wears patience down a little every chunk."""
        return big_screen and kbps <= 750 and bool(rng.random() < self.low_bitrate_quit)


def continue_probability(taste: float) -> float:
    """Chance of going back for another title after this one: liking it keeps viewers around.

    >>> round(continue_probability(-1.0), 2), round(continue_probability(2.0), 2)
    (0.27, 0.8)
    """
    return 0.25 + 0.6 * sigmoid(2.0 * (taste - 0.8))


def rating(rng: np.random.Generator, taste: float) -> float:
    """Stars 1..5 from the hidden taste plus noise.

    >>> rng = np.random.default_rng(0)
    >>> rating(rng, 3.0), rating(rng, -3.0)
    (5.0, 1.0)
    """
    return float(min(5.0, max(1.0, round(3.0 + 1.6 * taste + rng.normal(0.0, 0.6)))))
