"""Event-time engagement windowing: apply events to a user's state, compute features, emit snapshots.

:class:`EngagementTracker` holds only configuration; all per-user data lives
in :class:`~services.features.state.UserEngagement`, the value of the faust
table. A faust agent does, per event (key = user id)::

    state = table.get(uid) or tracker.new_state(uid)   # codec: UserEngagement.to/from_bytes
    snap = tracker.apply(state, event)
    table[uid] = state                                # reassign so the changelog sees it
    if snap: await snapshots_topic.send(key=uid, value=snap)

and on a timer driven by the partition's event-time watermark, per local key,
``snap = tracker.tick(state, now)`` (at most one per user per event-time day),
deleting keys for which ``tracker.is_expired(state, now)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from services.features import state as S
from services.features.compute import FEATURE_NAMES, feature_dict, feature_matrix, window_lut
from services.features.events import DAY_S, SUBSCRIPTION_KINDS, EngagementEvent, EventKind, Snapshot
from services.features.period import REACH_DAYS
from services.features.state import UserEngagement

DEFAULT_PLAN_TIERS: Mapping[str, float] = {"basic": 1.0, "standard": 2.0, "premium": 3.0}
COMPLETE_FRACTION = 0.9


class EngagementTracker:
    """Configuration plus the pure per-event / per-tick logic over :class:`UserEngagement`.

    Parameters
    ----------
    lateness_s:
        An event older than the user's newest event time minus this is dropped
        and counted in ``state.dropped_late`` (subscription status changes are
        still applied, ordered by event time; only their day counters drop).
    window_days:
        The longest windowed count (28-day features); the ring keeps the longer of it
        and the billing-period features' reach (42 days), plus the lateness days plus one slot.
    max_ids:
        Per-user recent event ids kept for de-duplication: a duplicate is
        caught if fewer than ``max_ids`` other events of that user were applied
        in between (and it is not beyond the lateness bound).
    emit_interval_s:
        Minimum event-time gap between two change-driven snapshots of a user.
    plan_tiers:
        Plan name -> ordinal (unknown plans are 0); a lower tier is a downgrade.

    >>> from services.features.events import EngagementEvent as E, EventKind as K
    >>> tr = EngagementTracker()
    >>> s = tr.new_state("u1")
    >>> _ = tr.apply(s, E("u1", "a", 10 * DAY_S, K.SESSION_START, device="tv"))
    >>> _ = tr.apply(s, E("u1", "b", 10 * DAY_S + 60, K.HEARTBEAT, watched_s=600.0))
    >>> _ = tr.apply(s, E("u1", "b", 10 * DAY_S + 60, K.HEARTBEAT, watched_s=600.0))  # duplicate
    >>> f = tr.features(s, 10 * DAY_S + 3600)
    >>> f["sessions_1d"], f["minutes_1d"], s.duplicates
    (1.0, 10.0, 1)
    >>> f["history_days"], f["sessions_7d"]  # one day observed: the week is extrapolated
    (1.0416666666666667, 6.72)
    """

    def __init__(
        self,
        lateness_s: float = 2 * DAY_S,
        window_days: int = 28,
        max_ids: int = 1024,
        emit_interval_s: float = 6 * 3600.0,
        plan_tiers: Mapping[str, float] | None = None,
    ) -> None:
        self.lateness_s = float(lateness_s)
        self.window_days = int(window_days)
        self.max_ids = int(max_ids)
        self.emit_interval_s = float(emit_interval_s)
        self.plan_tiers = dict(DEFAULT_PLAN_TIERS if plan_tiers is None else plan_tiers)
        # The billing-period features read REACH_DAYS (42) days back.
        reach = max(self.window_days, REACH_DAYS)
        self.ring = reach + math.ceil(self.lateness_s / DAY_S) + 1
        self._window_lut = window_lut(self.window_days)

    def new_state(self, user_id: str) -> UserEngagement:
        """An empty state sized for this configuration."""
        return UserEngagement.empty(user_id, self.ring, self.max_ids)

    # -- per event ---------------------------------------------------------

    def apply(self, st: UserEngagement, ev: EngagementEvent) -> Snapshot | None:
        """Fold one event into ``st``; return a snapshot if one is due (rate-limited)."""
        if ev.event_id in st.recent_set:
            st.duplicates += 1
            return None
        t = ev.time
        late = st.max_time is not None and t < st.max_time - self.lateness_s
        if late and ev.kind not in SUBSCRIPTION_KINDS:
            st.dropped_late += 1
            return None
        st.remember(ev.event_id)
        st.grow(self.ring)  # a state from a shorter-ring configuration keeps its days
        if late:
            st.dropped_late += 1
            self._subscription(st, ev, None)
            st.dirty = True
            return None
        if st.max_time is None or t > st.max_time:
            st.max_time = t
        kind = ev.kind
        if kind not in SUBSCRIPTION_KINDS and (st.first_time is None or t < st.first_time):
            st.first_time = t  # first engagement: a backfilled signup is not observed history
        slot = st.slot_for(int(t // DAY_S))
        c = st.counts
        c[S.EVENTS, slot] += 1.0
        if kind is EventKind.CHUNK:
            c[S.CHUNK_S, slot] += ev.duration_s
            c[S.REBUFFER_S, slot] += ev.rebuffer_ms / 1000.0
            c[S.BITRATE_X_S, slot] += ev.bitrate_kbps * ev.duration_s
        elif kind is EventKind.HEARTBEAT:
            c[S.WATCH_S, slot] += ev.watched_s
        elif kind is EventKind.PLAY:
            c[S.PLAYS, slot] += 1.0
            if ev.from_recommendation:
                c[S.PLAYS_RECO, slot] += 1.0
            self._tags(st, slot, ev)
        elif kind is EventKind.STOP or kind is EventKind.COMPLETE:
            self._progress(st, slot, ev)
        elif kind is EventKind.SKIP:
            c[S.SKIPS, slot] += 1.0
            c[S.WATCH_S, slot] += ev.watched_s
        elif kind is EventKind.SESSION_START:
            c[S.SESSIONS, slot] += 1.0
            if st.last_session_time is None or t > st.last_session_time:
                st.last_session_time = t
            self._tags(st, slot, ev)
        elif kind is EventKind.IMPRESSION:
            c[S.IMPRESSIONS, slot] += 1.0
        elif kind is EventKind.CLICK:
            c[S.CLICKS, slot] += 1.0
        elif kind is EventKind.RATING:
            c[S.RATING_SUM, slot] += ev.rating
            c[S.RATING_N, slot] += 1.0
        else:
            # Subscription changes reach snapshots through the next change or daily tick; a
            # leaving user's last state is not a prediction point (churn reads the cancel itself),
            # and a signup may be backfilled from long ago.
            self._subscription(st, ev, slot)
            st.dirty = True
            return None
        st.dirty = True
        return self._maybe_emit(st)

    @staticmethod
    def _tags(st: UserEngagement, slot: int, ev: EngagementEvent) -> None:
        genres = st.genres[slot]
        for g in ev.genres:
            if len(genres) < S.MAX_GENRES_PER_DAY:
                genres.add(g)
        if ev.device and len(st.devices[slot]) < S.MAX_DEVICES_PER_DAY:
            st.devices[slot].add(ev.device)

    @staticmethod
    def _progress(st: UserEngagement, slot: int, ev: EngagementEvent) -> None:
        c = st.counts
        c[S.WATCH_S, slot] += ev.watched_s
        frac = min(1.0, ev.position_s / ev.duration_s) if ev.duration_s > 0 else 1.0
        c[S.FRACTION_SUM, slot] += frac
        c[S.FRACTION_N, slot] += 1.0
        if ev.kind is EventKind.COMPLETE:
            c[S.COMPLETES, slot] += 1.0
            st.unfinished = [u for u in st.unfinished if u[0] != ev.title_id or u[1] > ev.time]
            return
        c[S.STOPS, slot] += 1.0
        if ev.title_id and frac < COMPLETE_FRACTION:
            kept = [u for u in st.unfinished if u[0] != ev.title_id]
            kept.append((ev.title_id, ev.time, frac))
            kept.sort(key=lambda u: u[1])
            st.unfinished = kept[-S.MAX_UNFINISHED :]

    def _subscription(self, st: UserEngagement, ev: EngagementEvent, slot: int | None) -> None:
        newest = st.sub_time is None or ev.time >= st.sub_time
        if ev.kind is EventKind.PLAN_CHANGE:
            old = self.plan_tiers.get(st.plan, 0.0)
            if slot is not None:
                st.counts[S.PLAN_CHANGES, slot] += 1.0
                if newest and self.plan_tiers.get(ev.plan, 0.0) < old:
                    st.counts[S.DOWNGRADES, slot] += 1.0
        if not newest:
            if ev.kind is EventKind.SIGNUP and st.signup_time is None:
                st.signup_time = ev.time
            return
        st.sub_time = ev.time
        if ev.kind is EventKind.CANCEL:
            st.subscribed = False
            st.cancel_time = ev.time
            return
        st.subscribed = True
        if ev.plan:
            st.plan = ev.plan
        if ev.kind is EventKind.SIGNUP:
            st.signup_time = ev.time

    def _maybe_emit(self, st: UserEngagement) -> Snapshot | None:
        now = st.max_time
        assert now is not None
        if st.last_emit_time is not None and now - st.last_emit_time < self.emit_interval_s:
            return None
        return self._emit(st, now, "change")

    def _emit(self, st: UserEngagement, now: float, reason: str) -> Snapshot:
        st.last_emit_time = now
        st.dirty = False
        title = st.unfinished[-1][0] if st.unfinished else ""
        return Snapshot(st.user_id, now, self.features(st, now), title, reason)

    # -- per tick ----------------------------------------------------------

    def is_active(self, st: UserEngagement, now: float) -> bool:
        """Subscribed, or (status unknown) seen within the feature window."""
        if st.subscribed:
            return True
        if st.cancel_time is not None:
            return False
        return st.max_time is not None and now - st.max_time < self.window_days * DAY_S

    def is_expired(self, st: UserEngagement, now: float) -> bool:
        """Nothing left worth keeping: inactive and no event within window + lateness."""
        if self.is_active(st, now):
            return False
        last = st.max_time if st.max_time is not None else -math.inf
        return now - last > self.window_days * DAY_S + self.lateness_s

    def tick(self, st: UserEngagement, now: float) -> Snapshot | None:
        """The daily snapshot at event time ``now``: once per user per day, active users only."""
        day = int(now // DAY_S)
        if st.last_tick_day is not None and st.last_tick_day >= day:
            return None
        if not self.is_active(st, now):
            return None
        st.last_tick_day = day
        return self._emit(st, now, "tick")

    # -- features ----------------------------------------------------------

    def features(self, st: UserEngagement, now: float) -> dict[str, float]:
        """Feature values at event time ``now``; a read that never changes ``st``."""
        return feature_dict(st, now, self._window_lut, self.plan_tiers)

    def tick_many(self, states: Sequence[UserEngagement], now: float) -> list[Snapshot]:
        """:meth:`tick` for many users with one vectorised feature computation (a faust timer
        walks its table in chunks); returns the snapshots of those due."""
        day = int(now // DAY_S)
        due = [
            st
            for st in states
            if (st.last_tick_day is None or st.last_tick_day < day) and self.is_active(st, now)
        ]
        if not due:
            return []
        # One matrix needs one ring size (states restored from a shorter ring grow here).
        for st in due:
            st.grow(self.ring)
        rows = feature_matrix(due, now, self._window_lut, self.plan_tiers).tolist()
        out = []
        for st, row in zip(due, rows, strict=True):
            st.last_tick_day = day
            st.last_emit_time = now
            st.dirty = False
            title = st.unfinished[-1][0] if st.unfinished else ""
            out.append(
                Snapshot(st.user_id, now, dict(zip(FEATURE_NAMES, row, strict=True)), title, "tick")
            )
        return out
