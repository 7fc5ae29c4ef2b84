"""The simulated clock: starts in the past, runs ``speed`` times faster, never passes real time.

Telemetry rejects events more than 5 minutes ahead of its clock or 30 days
behind it, so the simulated span is placed just before the moment the run
starts: at ``speed`` 1000 a 60-second run covers the last 60 000 simulated
seconds, ending at (about) the real now. Once it catches up it is clamped to
the real clock and so moves at 1x.

>>> wall = [1_000_000.0]
>>> mono = [0.0]
>>> c = SimClock(speed=100.0, span_s=1_000.0, real=lambda: wall[0], monotonic=lambda: mono[0])
>>> c.now()
999000.0
>>> mono[0] = 2.0; wall[0] += 2.0
>>> c.now()
999200.0
>>> mono[0] = 50.0; wall[0] = 1_000_050.0  # would be 1_004_000: clamped to the real clock
>>> c.now()
1000050.0
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """Simulated epoch seconds: ``start + elapsed * speed``, clamped to real time."""

    def __init__(
        self,
        speed: float,
        span_s: float,
        *,
        real: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real = real
        self._mono = monotonic
        self._mono0 = monotonic()
        self.start = real() - max(span_s, 0.0)

    def now(self) -> float:
        """Simulated time now (epoch seconds), never ahead of the real clock."""
        sim = self.start + (self._mono() - self._mono0) * self.speed
        return min(sim, self._real())

    def real_delay(self, sim_t: float) -> float:
        """Real seconds until :meth:`now` reaches ``sim_t`` (0 if it already has)."""
        ahead = sim_t - self.now()
        if ahead <= 0:
            return 0.0
        unclamped = self.start + (self._mono() - self._mono0) * self.speed
        if unclamped >= self._real():  # clamped: the simulation moves at real speed
            return ahead
        return ahead / self.speed


def span_for(speed: float, duration_s: float, max_days: float) -> float:
    """Simulated seconds a run covers: ``speed * duration``, at most ``max_days`` days.

    >>> span_for(1000, 60, 29)
    60000.0
    >>> span_for(1000, 0, 2) == 2 * 86400  # until a signal: the whole allowed span
    True
    """
    cap = max_days * 86_400.0
    return cap if duration_s <= 0 else float(min(speed * duration_s, cap))
