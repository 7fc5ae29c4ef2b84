"""Per-user memory of recent snapshots: a few features averaged over the user's last days."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

from services.churn.candidates import prepare

DAY_S = 86_400.0

# What a cancellation at the next bill reads: the drop of viewing, its level and rebuffering,
# each as the model sees it (``prepare``: log of counts and ratios).
DEFAULT_FEATURES = ("minutes_drop_7d", "minutes_7d", "minutes_14d", "rebuffer_ratio_14d")
SUFFIX = "_mean14d"


class FeatureHistory:
    """Adds ``<name>_mean14d``: the mean of a feature's daily values over the user's last ``days`` days.

    A snapshot says how the last week compared with the weeks before *today*;
    a subscriber who cancels at the next bill acts on how that comparison went
    over the whole billing period. The churn service sees every daily snapshot,
    so it can keep that period itself: one value per user and event-time day
    (the day's latest snapshot), averaged over the days of the last ``days``
    it has seen. Values are averaged after :func:`~services.churn.candidates.prepare`
    (log of counts and ratios), as the model reads them. A snapshot older than
    the user's newest recorded day is read against the history without changing it.

    >>> h = FeatureHistory(("minutes_drop_7d",), days=3)
    >>> [h.update("u", d * DAY_S, {"minutes_drop_7d": v})["minutes_drop_7d_mean14d"]
    ...  for d, v in enumerate([0.0, 0.3, 0.6, 0.9])]
    [0.0, 0.15, 0.3, 0.6]
    """

    def __init__(self, features: Sequence[str] = DEFAULT_FEATURES, days: int = 14) -> None:
        self.features = tuple(features)
        self.days = int(days)
        self.names = tuple(f + SUFFIX for f in self.features)
        self._users: dict[str, deque[tuple[int, tuple[float, ...]]]] = {}

    def __len__(self) -> int:
        return len(self._users)

    def _values(self, features: Mapping[str, float]) -> tuple[float, ...]:
        px = prepare({k: features[k] for k in self.features if k in features})
        return tuple(px.get(k, math.nan) for k in self.features)

    def update(self, user_id: str, t: float, features: Mapping[str, float]) -> dict[str, float]:
        """Record the snapshot's values for its day; return ``features`` plus the means."""
        day = int(t // DAY_S)
        vals = self._values(features)
        ring = self._users.get(user_id)
        if ring is None:
            ring = self._users[user_id] = deque()
        if not ring or ring[-1][0] < day:
            ring.append((day, vals))
        elif ring[-1][0] == day:
            ring[-1] = (day, vals)
        while ring and ring[0][0] <= ring[-1][0] - self.days:
            ring.popleft()
        rows = [v for d, v in ring if day - self.days < d <= day]
        if not rows or rows[-1] is not vals:
            rows.append(vals)  # a late snapshot: its own values count, the history is unchanged
        out = dict(features)
        for i, name in enumerate(self.names):
            xs = [r[i] for r in rows if not math.isnan(r[i])]
            if xs:
                out[name] = sum(xs) / len(xs)
        return out

    def forget(self, user_id: str) -> None:
        """Drop a user's history (cancelled, erased or idle)."""
        self._users.pop(user_id, None)
