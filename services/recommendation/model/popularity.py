"""Time-decayed popularity ("trending"), globally and per segment (region, device)."""

from __future__ import annotations

import numpy as np

from services.recommendation.model.catalog import grow

GLOBAL = ""


class DecayedPopularity:
    """Exponentially decayed play counts with a half-life in event-time seconds.

    Decay is lazy: a play at time t adds 2**((t - t_ref) / half_life) and reads
    divide by the same factor at the read time, so an update touches one cell
    instead of the whole catalogue; the reference time moves forward (one
    rescale) before the factors overflow. Segments ("region:FR", "device:tv")
    each keep their own array, up to `max_segments` (more segments fold into the
    global one), so memory is bounded by segments x titles.

    >>> pop = DecayedPopularity(half_life_s=10.0)
    >>> pop.learn_one(0, ts=0.0)
    >>> pop.learn_one(1, ts=10.0)
    >>> pop.learn_one(1, ts=10.0, segments=("region:FR",))
    >>> [round(float(x), 3) for x in pop.scores(2, ts=10.0)]
    [0.5, 2.0]
    >>> [round(float(x), 3) for x in pop.scores(2, ts=10.0, segment="region:FR")]
    [0.0, 1.0]
    """

    def __init__(self, half_life_s: float = 7 * 86400.0, max_segments: int = 256) -> None:
        self.half_life_s = half_life_s
        self.max_segments = max_segments
        self.t_ref = 0.0
        self.t_last = 0.0
        self.seg: dict[str, np.ndarray] = {GLOBAL: np.zeros(0, dtype=np.float64)}

    def _factor(self, ts: float) -> float:
        return float(2.0 ** ((ts - self.t_ref) / self.half_life_s))

    def _rebase(self, ts: float) -> None:
        exponent = (ts - self.t_ref) / self.half_life_s
        for a in self.seg.values():
            if exponent > 1000.0:  # everything has decayed to nothing
                a[:] = 0.0
            else:
                a /= 2.0**exponent
        self.t_ref = ts

    def learn_one(
        self, item: int, ts: float, weight: float = 1.0, segments: tuple[str, ...] = ()
    ) -> None:
        """Add a play of row `item` at event time `ts` to the global and given segments."""
        ts = max(ts, self.t_last)  # late events count at the current time: decay is monotone
        self.t_last = ts
        if (ts - self.t_ref) / self.half_life_s > 40.0:
            self._rebase(ts)
        inc = weight * self._factor(ts)
        for key in (GLOBAL, *segments):
            a = self.seg.get(key)
            if a is None:
                if len(self.seg) > self.max_segments:
                    continue
                a = np.zeros(0, dtype=np.float64)
            if item >= a.shape[0]:
                a = grow(a, item + 1)
            self.seg[key] = a
            a[item] += inc

    def scores(self, n: int, ts: float | None = None, segment: str = GLOBAL) -> np.ndarray:
        """Decayed counts of rows 0..n-1 at time `ts` (default: the last event time)."""
        a = self.seg.get(segment, self.seg[GLOBAL])
        out = np.zeros(n, dtype=np.float64)
        m = min(n, a.shape[0])
        t = self.t_last if ts is None else max(ts, self.t_last)
        exponent = (t - self.t_ref) / self.half_life_s
        if exponent < 1000.0:
            out[:m] = a[:m] / 2.0**exponent
        return out
