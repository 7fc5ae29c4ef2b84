"""Per-viewer state with a bounded memory policy: LRU cap on viewers plus idle TTL."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

UserId = Hashable


class UserState:
    """What the model keeps about one viewer; every field is capped."""

    __slots__ = (
        "device",
        "finished",
        "genre",
        "last_ts",
        "n_finished",
        "progress",
        "recent",
        "region",
        "row",
        "shown",
        "shown_ts",
    )

    def __init__(self, row: int) -> None:
        self.row = row  # row in the per-user factor arrays (recycled on eviction)
        self.recent = np.zeros(0, dtype=np.int64)  # consumed item rows, newest first
        # finished rows, oldest first, in a growable array so serving masks them in one op
        self.finished = np.zeros(8, dtype=np.int64)
        self.n_finished = 0
        self.progress: dict[int, float] = {}  # unfinished rows -> fraction, most recent last
        self.genre = np.zeros(0, dtype=np.float32)  # decayed genre affinity
        self.shown = np.zeros(0, dtype=np.int64)  # rows on the last screen, in display order
        self.shown_ts = -np.inf  # event time of the last impression
        self.last_ts = 0.0
        self.region = ""
        self.device = ""


class UserStore:
    """Viewers by id, least recently active first.

    Policy: at most `max_users` viewers (the least recently active is evicted
    first) and a viewer idle for more than `idle_ttl_s` event-time seconds is
    dropped; per viewer, at most `max_recent` recent titles, `max_finished`
    finished titles, `max_progress` titles in progress and `max_shown` titles of
    the last screen. An evicted viewer comes back as a cold-start viewer.
    Eviction happens on writes only, so a read never changes the store.

    >>> s = UserStore(max_users=2, idle_ttl_s=100.0)
    >>> _ = s.touch("a", 0.0); _ = s.touch("b", 50.0); _ = s.touch("c", 60.0)
    >>> sorted(s.users), s.evicted_rows
    (['b', 'c'], [0])
    >>> _ = s.touch("c", 200.0)
    >>> sorted(s.users)
    ['c']
    """

    def __init__(
        self,
        max_users: int = 1_000_000,
        idle_ttl_s: float = 180 * 86400.0,
        max_recent: int = 50,
        max_finished: int = 5000,
        max_progress: int = 50,
        max_shown: int = 100,
    ) -> None:
        self.max_users = max_users
        self.idle_ttl_s = idle_ttl_s
        self.max_recent = max_recent
        self.max_finished = max_finished
        self.max_progress = max_progress
        self.max_shown = max_shown
        self.users: OrderedDict[UserId, UserState] = OrderedDict()
        self._free_rows: list[int] = []
        self._next_row = 0
        self.evicted_rows: list[int] = []  # drained by the owner to free per-user arrays

    def __len__(self) -> int:
        return len(self.users)

    def get(self, user: UserId) -> UserState | None:
        """The viewer's state, or None; never creates or reorders."""
        return self.users.get(user)

    def touch(self, user: UserId, ts: float) -> UserState:
        """The viewer's state for a write at event time `ts`, creating and evicting as needed."""
        st = self.users.get(user)
        if st is None:
            row = self._free_rows.pop() if self._free_rows else self._next_row
            if row == self._next_row:
                self._next_row += 1
            st = self.users[user] = UserState(row)
        else:
            self.users.move_to_end(user)
        st.last_ts = max(st.last_ts, ts)
        self._expire(ts)
        return st

    def _expire(self, now: float) -> None:
        while self.users:
            uid, oldest = next(iter(self.users.items()))
            if len(self.users) > self.max_users or now - oldest.last_ts > self.idle_ttl_s:
                del self.users[uid]
                self._free_rows.append(oldest.row)
                self.evicted_rows.append(oldest.row)
            else:
                break

    def push_recent(self, st: UserState, item: int) -> None:
        """Make `item` the newest recent title (moving it if already there)."""
        rec = st.recent[st.recent != item]
        st.recent = np.concatenate(([item], rec[: self.max_recent - 1]))

    def finish(self, st: UserState, item: int) -> None:
        """Mark `item` finished (a finished title leaves the viewer's candidates)."""
        st.progress.pop(item, None)
        n = st.n_finished
        if n and (st.finished[:n] == item).any():
            return
        if n == self.max_finished:  # forget the oldest: it may be recommended again
            st.finished[: n - 1] = st.finished[1:n]
            n -= 1
        elif n == st.finished.shape[0]:
            st.finished = np.concatenate([st.finished, np.zeros(n, dtype=np.int64)])
        st.finished[n] = item
        st.n_finished = n + 1

    def finished_rows(self, st: UserState) -> np.ndarray:
        """The viewer's finished item rows (a view: do not modify)."""
        return st.finished[: st.n_finished]

    def show(self, st: UserState, item: int, ts: float, screen_gap_s: float = 120.0) -> None:
        """Remember that `item` was shown; an impression `screen_gap_s` after the last starts anew.

        A home screen's impressions arrive within seconds of each other, so a long
        gap means a new screen; the list is capped at `max_shown` (the top of the
        screen is what matters).
        """
        if ts - st.shown_ts > screen_gap_s:
            st.shown = np.zeros(0, dtype=np.int64)
        st.shown_ts = ts
        if st.shown.shape[0] < self.max_shown:
            st.shown = np.append(st.shown, item)

    def set_progress(self, st: UserState, item: int, fraction: float) -> None:
        st.progress.pop(item, None)
        st.progress[item] = fraction
        if len(st.progress) > self.max_progress:
            del st.progress[next(iter(st.progress))]
