"""Delayed churn labels: pending snapshots become positives on a cancel, negatives once the horizon passes."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P")

DAY_S = 86_400.0


@dataclass(slots=True)
class Labelled(Generic[P]):
    """A snapshot whose outcome is now known."""

    user_id: str
    time: float
    payload: P
    label: bool
    labelled_at: float


class DelayedLabeler(Generic[P]):
    """Per-user pending snapshots, labelled only when the outcome is known.

    A snapshot at ``t`` is positive if the user cancels in ``[t, t + horizon]``.
    It is labelled:

    - on a cancel at ``c``: pending snapshots with ``c - horizon <= t < c``
      become positives, older ones negatives (their horizon ended without a
      cancel); snapshots at or after ``c`` are discarded (a cancel before a
      snapshot says nothing about it);
    - on time passing: once the watermark minus ``lateness_s`` is past
      ``t + horizon`` with no cancel seen, the snapshot is negative. The margin
      leaves room for a cancel event that arrives late.

    Memory: at most ``max_pending`` snapshots per user, at least ``min_gap_s``
    apart (an ``add`` closer to the previous one is refused); if the buffer is
    still full the oldest is evicted and counted in ``evicted``. Defaults keep
    one snapshot every 3 days, so 12 cover a 30-day horizon plus the lateness
    margin (weekly spacing gave too few labels to learn from on the bench).

    >>> lab = DelayedLabeler[str](horizon_s=30 * DAY_S, lateness_s=0.0)
    >>> lab.add("u", 0.0, "s0"), lab.add("u", 1.0, "too close")
    (True, False)
    >>> lab.advance(29 * DAY_S)
    []
    >>> [(x.payload, x.label) for x in lab.advance(31 * DAY_S)]
    [('s0', False)]
    """

    def __init__(
        self,
        horizon_s: float = 30 * DAY_S,
        lateness_s: float = 2 * DAY_S,
        max_pending: int = 12,
        min_gap_s: float = 3 * DAY_S,
    ) -> None:
        self.horizon_s = float(horizon_s)
        self.lateness_s = float(lateness_s)
        self.max_pending = int(max_pending)
        self.min_gap_s = float(min_gap_s)
        self._pending: dict[str, dict[int, tuple[float, P]]] = {}
        self._last_added: dict[str, float] = {}
        self._due: list[tuple[float, int, str]] = []  # (time, seq, user): a lazy-deletion heap
        self._seq = 0
        self.watermark = float("-inf")
        self.evicted = 0

    def __len__(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def pending(self, user_id: str) -> list[tuple[float, P]]:
        """The user's pending snapshots, oldest first (a copy)."""
        return sorted(self._pending.get(user_id, {}).values(), key=lambda tp: tp[0])

    def accepts(self, user_id: str, t: float) -> bool:
        """Whether :meth:`add` would queue a snapshot of ``user_id`` at ``t``.

        Refused: closer than ``min_gap_s`` to the user's previous queued one, or
        stale (older than the watermark minus lateness: a backfilled snapshot
        whose future is partly past already would teach hindsight).
        """
        if t < self.watermark - self.lateness_s:
            return False
        last = self._last_added.get(user_id)
        return last is None or abs(t - last) >= self.min_gap_s

    def add(self, user_id: str, t: float, payload: P) -> bool:
        """Queue a snapshot awaiting its label; False if refused by the spacing rule."""
        if not self.accepts(user_id, t):
            return False
        self._last_added[user_id] = t
        user = self._pending.setdefault(user_id, {})
        if len(user) >= self.max_pending:
            oldest = min(user, key=lambda k: user[k][0])
            del user[oldest]
            self.evicted += 1
        self._seq += 1
        user[self._seq] = (t, payload)
        heapq.heappush(self._due, (t, self._seq, user_id))
        return True

    def cancel(self, user_id: str, c: float) -> list[Labelled[P]]:
        """A cancel at event time ``c``: label and drop all of the user's pending snapshots."""
        user = self._pending.pop(user_id, {})
        self._last_added.pop(user_id, None)
        at = max(c, self.watermark)
        out = [
            Labelled(user_id, t, p, t >= c - self.horizon_s, at)
            for t, p in sorted(user.values(), key=lambda tp: tp[0])
            if t < c
        ]
        return out

    def advance(self, watermark: float) -> list[Labelled[P]]:
        """Move event time forward; return snapshots whose horizon (plus lateness) has passed."""
        if watermark <= self.watermark:
            return []
        self.watermark = watermark
        cutoff = watermark - self.lateness_s - self.horizon_s
        out: list[Labelled[P]] = []
        due = self._due
        while due and due[0][0] < cutoff:
            t, seq, user_id = heapq.heappop(due)
            user = self._pending.get(user_id)
            if user is None or seq not in user:
                continue  # already labelled by a cancel, or evicted
            _, payload = user.pop(seq)
            if not user:
                del self._pending[user_id]
            out.append(Labelled(user_id, t, payload, False, watermark))
        return out

    def forget(self, user_id: str) -> None:
        """Drop a user's pending snapshots without labelling them."""
        self._pending.pop(user_id, None)
        self._last_added.pop(user_id, None)
