"""Windowing of engagement features: buckets, lateness, duplicates, order independence, roll-off."""

from __future__ import annotations

import math
import random

import pytest

from services.features.engagement import FEATURE_NAMES, EngagementTracker
from services.features.events import DAY_S, EngagementEvent, EventKind
from services.features.state import UserEngagement

K = EventKind
H = 3600.0


def ev(eid: str, t: float, kind: EventKind = K.HEARTBEAT, **kw: object) -> EngagementEvent:
    return EngagementEvent("u1", eid, t, kind, **kw)  # type: ignore[arg-type]


def watch(eid: str, t: float, minutes: float) -> EngagementEvent:
    return ev(eid, t, K.HEARTBEAT, watched_s=minutes * 60.0)


def seasoned(tr: EngagementTracker, day: int) -> UserEngagement:
    """A state first engaged 60 days before ``day``: its windows are fully observed."""
    st = tr.new_state("u1")
    tr.apply(st, ev("old", (day - 60) * DAY_S, K.IMPRESSION))
    return st


def test_events_land_in_their_event_time_day_and_windows() -> None:
    tr = EngagementTracker()
    day = 100
    st = seasoned(tr, day)
    tr.apply(st, watch("a", (day - 10) * DAY_S + H, 10))  # 10 days ago: 28d only
    tr.apply(st, watch("b", (day - 3) * DAY_S + H, 20))  # 3 days ago: 7d and 28d
    tr.apply(st, watch("c", day * DAY_S + H, 40))  # today: all windows
    f = tr.features(st, day * DAY_S + 12 * H)
    assert f["minutes_1d"] == pytest.approx(40)
    assert f["minutes_7d"] == pytest.approx(60)
    assert f["minutes_28d"] == pytest.approx(70)


def test_late_event_within_bound_lands_in_its_own_day() -> None:
    tr = EngagementTracker(lateness_s=48 * H)
    st = seasoned(tr, 50)
    tr.apply(st, watch("now", 50 * DAY_S + 20 * H, 5))
    tr.apply(st, watch("late", 49 * DAY_S + 1 * H, 30))  # 43 h behind the newest event
    assert st.dropped_late == 0
    f = tr.features(st, 50 * DAY_S + 21 * H)
    assert f["minutes_1d"] == pytest.approx(5)  # not counted today
    assert f["minutes_7d"] == pytest.approx(35)  # but in the window, on day 49
    f_prev = tr.features(st, 49 * DAY_S + 23 * H)
    assert f_prev["minutes_1d"] == pytest.approx(30)


def test_event_beyond_lateness_is_dropped_and_counted() -> None:
    tr = EngagementTracker(lateness_s=48 * H)
    st = seasoned(tr, 50)
    tr.apply(st, watch("now", 50 * DAY_S + 20 * H, 5))
    tr.apply(st, watch("too-late", 50 * DAY_S + 20 * H - 49 * H, 30))
    assert st.dropped_late == 1
    assert tr.features(st, 50 * DAY_S + 21 * H)["minutes_28d"] == pytest.approx(5)


def test_duplicate_event_ids_count_once() -> None:
    tr = EngagementTracker()
    st = tr.new_state("u1")
    for _ in range(3):
        tr.apply(st, ev("s1", 10 * DAY_S, K.SESSION_START, device="tv"))
        tr.apply(st, ev("p1", 10 * DAY_S + 60, K.PLAY, title_id="t", from_recommendation=True))
    f = tr.features(st, 10 * DAY_S + H)
    assert f["sessions_1d"] == 1.0
    assert st.duplicates == 4
    assert st.counts.sum() > 0


def test_dedup_set_is_bounded() -> None:
    tr = EngagementTracker(max_ids=8)
    st = tr.new_state("u1")
    for i in range(100):
        tr.apply(st, watch(f"e{i}", 10 * DAY_S + i, 1))
    assert len(st.recent_ids) == 8 and len(st.recent_set) == 8
    tr.apply(st, watch("e99", 10 * DAY_S + 99, 1))  # recent: caught
    tr.apply(st, watch("e0", 10 * DAY_S, 1))  # forgotten: counted again (documented bound)
    assert st.duplicates == 1
    assert tr.features(st, 10 * DAY_S + H)["minutes_1d"] == pytest.approx(101)


def _random_events(rng: random.Random, n: int) -> list[EngagementEvent]:
    kinds = [K.SESSION_START, K.PLAY, K.CHUNK, K.STOP, K.COMPLETE, K.SKIP, K.HEARTBEAT, K.CLICK]
    kinds += [K.IMPRESSION, K.RATING]
    out = []
    for i in range(n):
        out.append(
            ev(
                f"e{i}",
                40 * DAY_S + rng.uniform(0, 30 * H),
                rng.choice(kinds),
                title_id=f"t{rng.randrange(5)}",
                genres=(f"g{rng.randrange(6)}",),
                device=f"d{rng.randrange(3)}",
                from_recommendation=rng.random() < 0.3,
                position_s=rng.uniform(0, 100),
                duration_s=100.0,
                watched_s=rng.uniform(0, 600),
                bitrate_kbps=rng.uniform(300, 4000),
                rebuffer_ms=rng.uniform(0, 2000),
                rating=float(rng.randint(1, 5)),
            )
        )
    return out


def test_out_of_order_arrival_gives_the_same_features() -> None:
    rng = random.Random(7)
    events = _random_events(rng, 300)
    tr = EngagementTracker()
    a, b = tr.new_state("u1"), tr.new_state("u1")
    for e in sorted(events, key=lambda e: e.time):
        tr.apply(a, e)
    shuffled = events[:]
    rng.shuffle(shuffled)  # all within 30 h, i.e. inside the 48 h bound
    for e in shuffled:
        tr.apply(b, e)
    now = 42 * DAY_S
    fa, fb = tr.features(a, now), tr.features(b, now)
    assert set(fa) == set(FEATURE_NAMES)
    assert fa == pytest.approx(fb)
    assert b.dropped_late == 0


def test_partial_history_is_extrapolated_not_read_as_decline() -> None:
    tr = EngagementTracker()
    st = tr.new_state("u1")
    for d in range(7):  # first seen a week ago, 20 min a day
        tr.apply(st, watch(f"w{d}", (100 + d) * DAY_S + H, 20))
    f = tr.features(st, 106 * DAY_S + 2 * H)
    assert f["history_days"] == pytest.approx(7.0, abs=0.1)
    assert f["minutes_7d"] == pytest.approx(140.0)
    assert f["minutes_28d"] == pytest.approx(140.0 * 28 / f["history_days"])
    assert abs(f["minutes_ratio_7d_28d"]) < 0.05
    assert f["minutes_trend_7d"] == 0.0  # no previous week observed: no trend claimed


def test_window_rolls_off_after_28_days() -> None:
    tr = EngagementTracker()
    st = tr.new_state("u1")
    tr.apply(st, ev("s", 10 * DAY_S + H, K.SESSION_START, device="tv", genres=("drama",)))
    assert tr.features(st, 37 * DAY_S + H)["sessions_28d"] == 1.0  # 27 days old: inside
    assert tr.features(st, 37 * DAY_S + H)["distinct_devices_28d"] == 1.0
    f = tr.features(st, 38 * DAY_S + H)  # 28 days old: gone
    assert f["sessions_28d"] == 0.0
    assert f["distinct_devices_28d"] == 0.0
    # A ring slot reused by a newer day is reset, not added to.
    tr.apply(st, ev("s2", (10 + tr.ring) * DAY_S + H, K.SESSION_START))
    assert tr.features(st, (10 + tr.ring) * DAY_S + 2 * H)["sessions_28d"] == 1.0


def test_trend_and_quality_features() -> None:
    tr = EngagementTracker()
    st = tr.new_state("u1")
    for d in range(14):
        minutes = 60.0 if d < 7 else 10.0  # watched much less in the last week
        tr.apply(st, watch(f"w{d}", (100 + d) * DAY_S + H, minutes))
    tr.apply(
        st,
        ev(
            "c1",
            113 * DAY_S + 2 * H,
            K.CHUNK,
            duration_s=90.0,
            rebuffer_ms=10_000.0,
            bitrate_kbps=1000.0,
        ),
    )
    f = tr.features(st, 113 * DAY_S + 3 * H)
    assert f["minutes_trend_7d"] < -0.5
    assert f["minutes_ratio_7d_28d"] < 0
    assert f["rebuffer_ratio_7d"] == pytest.approx(10 / 100)
    assert f["mean_bitrate_kbps_7d"] == pytest.approx(1000.0)


def test_subscription_status_plan_and_tenure() -> None:
    tr = EngagementTracker()
    st = tr.new_state("u1")
    tr.apply(st, ev("su", 10 * DAY_S, K.SIGNUP, plan="premium"))
    tr.apply(st, ev("pc", 20 * DAY_S, K.PLAN_CHANGE, plan="basic"))
    f = tr.features(st, 30 * DAY_S)
    assert f["plan_tier"] == 1.0 and f["downgrades_28d"] == 1.0
    assert f["tenure_days"] == pytest.approx(20.0)
    assert tr.is_active(st, 30 * DAY_S)
    assert tr.apply(st, ev("ca", 31 * DAY_S, K.CANCEL)) is None
    assert not tr.is_active(st, 31 * DAY_S + 1)
    assert tr.tick(st, 32 * DAY_S) is None
    assert tr.is_expired(st, 31 * DAY_S + 31 * DAY_S)


def test_snapshots_are_rate_limited_and_ticked_once_a_day() -> None:
    tr = EngagementTracker(emit_interval_s=6 * H)
    st = tr.new_state("u1")
    emitted = [tr.apply(st, watch(f"w{i}", 5 * DAY_S + i * H, 1)) for i in range(12)]
    times = [s.time for s in emitted if s is not None]
    assert times == [5 * DAY_S, 5 * DAY_S + 6 * H]
    tick = tr.tick(st, 6 * DAY_S - 1)
    assert tick is not None and tick.reason == "tick" and tick.user_id == "u1"
    assert tick.features["minutes_1d"] == pytest.approx(12)
    assert tr.tick(st, 6 * DAY_S - 0.5) is None  # same day: once
    assert tr.tick(st, 7 * DAY_S - 1) is not None  # next day: again (subscription unknown, seen)


def test_unfinished_title_is_carried_in_snapshots() -> None:
    tr = EngagementTracker()
    st = tr.new_state("u1")
    tr.apply(st, ev("s1", DAY_S, K.STOP, title_id="t1", position_s=300, duration_s=3000))
    tr.apply(st, ev("s2", DAY_S + 60, K.STOP, title_id="t2", position_s=10, duration_s=3000))
    tr.apply(st, ev("c2", DAY_S + 120, K.COMPLETE, title_id="t2", position_s=3000, duration_s=3000))
    snap = tr.tick(st, 2 * DAY_S - 1)
    assert snap is not None and snap.unfinished_title == "t1"


def test_state_round_trips_through_bytes_and_dict() -> None:
    rng = random.Random(3)
    tr = EngagementTracker()
    st = tr.new_state("u1")
    for e in _random_events(rng, 200):
        tr.apply(st, e)
    tr.apply(st, ev("su", 39 * DAY_S, K.SIGNUP, plan="standard"))
    now = 42 * DAY_S
    for back in (UserEngagement.from_bytes(st.to_bytes()), UserEngagement.from_dict(st.to_dict())):
        assert back.to_dict() == st.to_dict()
        assert tr.features(back, now) == tr.features(st, now)
        # The restored dedup set still works.
        before = back.duplicates
        tr.apply(back, _random_events(random.Random(3), 1)[0])
        assert back.duplicates == before + 1
    with pytest.raises(ValueError):
        UserEngagement.from_bytes(b"nope")


def test_features_is_a_read() -> None:
    tr = EngagementTracker()
    st = tr.new_state("u1")
    for e in _random_events(random.Random(1), 50):
        tr.apply(st, e)
    before = st.to_bytes()
    tr.features(st, 45 * DAY_S)
    assert st.to_bytes() == before


def test_vectorised_ticks_match_the_scalar_features() -> None:
    rng = random.Random(11)
    tr = EngagementTracker()
    states = []
    for u in range(6):
        st = tr.new_state(f"u{u}")
        for e in _random_events(rng, 40 * (u + 1)):
            tr.apply(st, e)
        if u % 2:
            tr.apply(st, ev(f"su{u}", 20 * DAY_S, K.SIGNUP, plan="premium"))
        states.append(st)
    states.append(tr.new_state("empty"))  # unknown status, never seen: not active
    now = 43 * DAY_S - 1
    expected = {s.user_id: tr.features(s, now) for s in states}
    snaps = tr.tick_many(states, now)
    assert [s.user_id for s in snaps] == [f"u{u}" for u in range(6)]
    for s in snaps:
        assert s.features == pytest.approx(expected[s.user_id], rel=1e-12, abs=1e-12)
    assert tr.tick_many(states, now) == []  # once per day


def test_fortnight_features() -> None:
    """14-day windows: a fortnight of 60 min/day, then one of 10 min/day with rebuffering."""
    tr = EngagementTracker()
    day = 200
    st = seasoned(tr, day)
    for d in range(28):
        minutes = 60.0 if d < 14 else 10.0
        tr.apply(st, watch(f"w{d}", (day - 27 + d) * DAY_S + H, minutes))
    tr.apply(
        st,
        ev("c", (day - 1) * DAY_S + 2 * H, K.CHUNK, duration_s=90.0, rebuffer_ms=10_000.0),
    )
    f = tr.features(st, day * DAY_S + 12 * H)
    assert f["minutes_14d"] == pytest.approx(140.0)
    assert f["minutes_trend_14d"] == pytest.approx((140 - 840) / (140 + 840 + 60))
    assert f["rebuffer_ratio_14d"] == pytest.approx(10 / 100)
    # Seen for 5 days only: the fortnight is extrapolated, and there is no trend to read yet.
    young = tr.new_state("u1")
    for d in range(5):
        tr.apply(young, watch(f"y{d}", (day - 4 + d) * DAY_S + H, 10.0))
    g = tr.features(young, day * DAY_S + 12 * H)
    assert g["minutes_14d"] == pytest.approx(50.0 * 14 / g["history_days"])
    assert g["minutes_trend_14d"] == 0.0


def test_minutes_drop_7d_compares_the_last_week_with_days_8_to_28() -> None:
    """60 min/day on days 8-28 before, 10 min/day in the last 7: a drop of log(90/40)."""
    tr = EngagementTracker(lateness_s=48 * H)
    day = 300
    st = seasoned(tr, day)
    for age in range(27, -1, -1):  # in event-time order
        tr.apply(st, watch(f"w{age}", (day - age) * DAY_S + H, 60.0 if age >= 7 else 10.0))
    now = day * DAY_S + 12 * H
    want = math.log((60.0 + 30.0) / (10.0 + 30.0))
    assert tr.features(st, now)["minutes_drop_7d"] == pytest.approx(want)
    # A duplicate adds nothing; a late event within the bound lands in its own day (6 days
    # ago, in the last week: the drop shrinks); one beyond the bound is dropped.
    tr.apply(st, watch("w3", (day - 3) * DAY_S + H, 10.0))
    assert st.duplicates == 1
    tr.apply(st, watch("late", (day - 1) * DAY_S + 2 * H, 70.0))  # 34 h behind the newest
    tr.apply(st, watch("too_late", (day - 20) * DAY_S + H, 500.0))
    assert st.dropped_late == 1
    f = tr.features(st, now)
    assert f["minutes_drop_7d"] == pytest.approx(math.log(90.0 / 50.0))  # 10 + 70/7 = 20/day
    assert f["minutes_drop_7d"] < want
    # A week that rises above the weeks before is no drop at all.
    tr.apply(st, watch("binge", day * DAY_S + 3 * H, 2000.0))
    assert tr.features(st, day * DAY_S + 4 * H)["minutes_drop_7d"] == 0.0


def test_minutes_drop_7d_waits_for_a_week_of_earlier_history() -> None:
    tr = EngagementTracker()
    day = 300

    def seen_for(n_days: int) -> dict[str, float]:
        st = tr.new_state("u1")
        for d in range(n_days):  # the last 7 days idle, 60 min/day before
            minutes = 60.0 if d < n_days - 7 else 0.0
            tr.apply(st, watch(f"y{d}", (day - n_days + 1 + d) * DAY_S + H, minutes))
        return tr.features(st, day * DAY_S + 12 * H)

    assert seen_for(10)["minutes_drop_7d"] == 0.0  # only 3 days before the last week
    f = seen_for(15)  # 8 days of 60 min before the idle week, spread over the observed part
    prev = 8 * 60.0 / (f["history_days"] - 7.0)
    assert f["minutes_drop_7d"] == pytest.approx(math.log((prev + 30.0) / 30.0))
