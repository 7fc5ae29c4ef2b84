"""Daily cancellation hazard from recent relevance and playback quality.

A subscriber's chance of cancelling today grows log-linearly with how poor
their recent experience was: low taste of what they watched, app visits where
nothing appealed, rebuffering, and low bitrate. :class:`Recent` keeps those as
per-user exponentially weighted averages (arrays, so a day's hazards for the
whole population are one vectorised expression).

>>> h = HazardModel()
>>> good = h.daily(np.array([1.0]), np.array([0.9]), np.array([0.0]), np.array([4000.0]))
>>> bad = h.daily(np.array([-0.5]), np.array([0.3]), np.array([0.05]), np.array([600.0]))
>>> bool(bad[0] > 3 * good[0])
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HazardModel:
    """``base * exp(sum of weighted deficits)``, capped; neutral experience gives ``base``."""

    base_per_day: float = 0.004
    taste_ref: float = 0.5
    w_taste: float = 1.0
    found_ref: float = 0.7
    w_found: float = 2.0
    w_rebuffer: float = 40.0  # per unit of rebuffer ratio: 2.5% stalls ~ 2.7x hazard
    bitrate_ref_kbps: float = 3000.0
    w_bitrate: float = 0.4  # per Mbit/s below the reference
    max_per_day: float = 0.3

    def daily(
        self,
        taste: np.ndarray,
        found: np.ndarray,
        rebuffer_ratio: np.ndarray,
        bitrate_kbps: np.ndarray,
    ) -> np.ndarray:
        """Probability of cancelling today, per user."""
        x = (
            self.w_taste * (self.taste_ref - taste)
            + self.w_found * (self.found_ref - found)
            + self.w_rebuffer * rebuffer_ratio
            + self.w_bitrate * (self.bitrate_ref_kbps - bitrate_kbps) / 1000.0
        )
        out: np.ndarray = np.clip(self.base_per_day * np.exp(x), 0.0, self.max_per_day)
        return out


class Recent:
    """Per-user moving averages of experience, starting neutral (no history = base hazard)."""

    def __init__(self, n: int, model: HazardModel, alpha: float = 0.15) -> None:
        self.alpha = alpha
        self.taste = np.full(n, model.taste_ref)
        self.found = np.full(n, model.found_ref)
        self.rebuffer_ratio = np.zeros(n)
        self.bitrate_kbps = np.full(n, model.bitrate_ref_kbps)

    def visit(self, u: int, found: bool) -> None:
        """The viewer opened the app and did (or did not) find something to watch."""
        self.found[u] += self.alpha * (float(found) - self.found[u])

    def viewing(self, u: int, taste: float, rebuffer_ratio: float, bitrate_kbps: float) -> None:
        """A viewing ended: how much they liked it and how it played."""
        a = self.alpha
        self.taste[u] += a * (taste - self.taste[u])
        self.rebuffer_ratio[u] += a * (rebuffer_ratio - self.rebuffer_ratio[u])
        self.bitrate_kbps[u] += a * (bitrate_kbps - self.bitrate_kbps[u])

    def hazard(self, model: HazardModel, users: np.ndarray) -> np.ndarray:
        """Today's hazard for ``users``."""
        return model.daily(
            self.taste[users],
            self.found[users],
            self.rebuffer_ratio[users],
            self.bitrate_kbps[users],
        )
