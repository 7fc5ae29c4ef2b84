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
from collections.abc import Mapping

import numpy as np

from services.features import state as S
from services.features.events import DAY_S, SUBSCRIPTION_KINDS, EngagementEvent, EventKind, Snapshot
from services.features.state import UserEngagement

DEFAULT_PLAN_TIERS: Mapping[str, float] = {"basic": 1.0, "standard": 2.0, "premium": 3.0}
COMPLETE_FRACTION = 0.9
MAX_DAYS_SINCE = 90.0

FEATURE_NAMES: tuple[str, ...] = (
    "sessions_1d",
    "sessions_7d",
    "sessions_28d",
    "minutes_1d",
    "minutes_7d",
    "minutes_28d",
    "minutes_trend_7d",
    "sessions_trend_7d",
    "minutes_ratio_7d_28d",
    "days_since_last_session",
    "completion_rate_28d",
    "skip_rate_28d",
    "watch_fraction_28d",
    "rebuffer_ratio_7d",
    "rebuffer_ratio_28d",
    "mean_bitrate_kbps_7d",
    "distinct_genres_28d",
    "distinct_devices_28d",
    "reco_play_share_28d",
    "ctr_28d",
    "mean_rating_28d",
    "plan_tier",
    "tenure_days",
    "plan_changes_28d",
    "downgrades_28d",
)


def _rate(num: float, den: float, prior: float, weight: float = 2.0) -> float:
    """A ratio shrunk towards ``prior`` so a handful of events does not read as 0 or 1."""
    return (num + prior * weight) / (den + weight)


class EngagementTracker:
    """Configuration plus the pure per-event / per-tick logic over :class:`UserEngagement`.

    Parameters
    ----------
    lateness_s:
        An event older than the user's newest event time minus this is dropped
        and counted in ``state.dropped_late`` (subscription status changes are
        still applied, ordered by event time; only their day counters drop).
    window_days:
        The longest feature window; the ring keeps ``window_days`` plus the
        lateness days plus one slot.
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
    >>> f["sessions_7d"], f["minutes_7d"], s.duplicates
    (1.0, 10.0, 1)
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
        self.ring = self.window_days + math.ceil(self.lateness_s / DAY_S) + 1
        ages = np.arange(-1, self.window_days + 1)
        self._window_lut = np.stack(
            [ages == 0, (ages >= 0) & (ages < 7), (ages >= 7) & (ages < 14), ages >= 0], axis=1
        ).astype(np.float64)
        self._window_lut[-1] = 0.0  # age == window_days: outside every window

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
        if late:
            st.dropped_late += 1
            self._subscription(st, ev, None)
            st.dirty = True
            return self._maybe_emit(st)
        if st.max_time is None or t > st.max_time:
            st.max_time = t
        if st.first_time is None or t < st.first_time:
            st.first_time = t
        slot = st.slot_for(int(t // DAY_S))
        c = st.counts
        c[S.EVENTS, slot] += 1.0
        kind = ev.kind
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
            self._subscription(st, ev, slot)
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
        today = int(now // DAY_S)
        # Row k of the lookup is the window membership of a slot k days old;
        # empty (-1) and future slots clip onto the all-zero rows.
        age = np.clip(today - st.days, -1, self.window_days)
        age[st.days < 0] = self.window_days
        masks = self._window_lut[age + 1]
        d1, d7, p7, d28 = (st.counts @ masks).T.tolist()
        w = self.window_days
        first = st.first_time if st.first_time is not None else now
        hist = min(float(w), max(1.0, (now - first) / DAY_S + 1.0))
        m7, p7m, m28 = d7[S.WATCH_S] / 60.0, p7[S.WATCH_S] / 60.0, d28[S.WATCH_S] / 60.0
        s7, p7s = d7[S.SESSIONS], p7[S.SESSIONS]
        full_prev = hist >= 14.0
        last_s = st.last_session_time
        since_ref = last_s if last_s is not None else first
        plays = d28[S.PLAYS]
        if d7[S.CHUNK_S] > 0:
            bitrate = d7[S.BITRATE_X_S] / d7[S.CHUNK_S]
        elif d28[S.CHUNK_S] > 0:
            bitrate = d28[S.BITRATE_X_S] / d28[S.CHUNK_S]
        else:
            bitrate = 0.0
        genres: set[str] = set()
        devices: set[str] = set()
        for i in np.flatnonzero(masks[:, 3]).tolist():
            genres |= st.genres[i]
            devices |= st.devices[i]
        start = st.signup_time if st.signup_time is not None else first
        return {
            "sessions_1d": d1[S.SESSIONS],
            "sessions_7d": s7,
            "sessions_28d": d28[S.SESSIONS],
            "minutes_1d": d1[S.WATCH_S] / 60.0,
            "minutes_7d": m7,
            "minutes_28d": m28,
            "minutes_trend_7d": (m7 - p7m) / (m7 + p7m + 30.0) if full_prev else 0.0,
            "sessions_trend_7d": (s7 - p7s) / (s7 + p7s + 1.0) if full_prev else 0.0,
            "minutes_ratio_7d_28d": math.log((m7 / 7.0 + 5.0) / (m28 / hist + 5.0)),
            "days_since_last_session": min(MAX_DAYS_SINCE, max(0.0, (now - since_ref) / DAY_S)),
            "completion_rate_28d": _rate(d28[S.COMPLETES], plays, 0.5),
            "skip_rate_28d": _rate(d28[S.SKIPS], plays, 0.2),
            "watch_fraction_28d": _rate(d28[S.FRACTION_SUM], d28[S.FRACTION_N], 0.5),
            "rebuffer_ratio_7d": _ratio(d7[S.REBUFFER_S], d7[S.CHUNK_S]),
            "rebuffer_ratio_28d": _ratio(d28[S.REBUFFER_S], d28[S.CHUNK_S]),
            "mean_bitrate_kbps_7d": bitrate,
            "distinct_genres_28d": float(len(genres)),
            "distinct_devices_28d": float(len(devices)),
            "reco_play_share_28d": _rate(d28[S.PLAYS_RECO], plays, 0.3),
            "ctr_28d": _rate(d28[S.CLICKS], d28[S.IMPRESSIONS], 0.1, 1.0),
            "mean_rating_28d": _rate(d28[S.RATING_SUM], d28[S.RATING_N], 3.5, 1.0),
            "plan_tier": self.plan_tiers.get(st.plan, 0.0),
            "tenure_days": max(0.0, (now - start) / DAY_S),
            "plan_changes_28d": d28[S.PLAN_CHANGES],
            "downgrades_28d": d28[S.DOWNGRADES],
        }


def _ratio(rebuffer_s: float, played_s: float) -> float:
    total = rebuffer_s + played_s
    return rebuffer_s / total if total > 0 else 0.0
