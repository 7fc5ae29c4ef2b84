"""Billing-period features: 14-day means of the daily decline, level and rebuffering, from real events."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from services.features import state as S
from services.features.engagement import EngagementTracker
from services.features.events import DAY_S, EngagementEvent, EventKind
from services.features.period import PERIOD_NAMES, REACH_DAYS, period_matrix, period_values
from services.features.state import UserEngagement

K = EventKind
H = 3600.0
DECLINE, LEVEL, REBUFFER = PERIOD_NAMES


def ev(eid: str, t: float, kind: EventKind = K.HEARTBEAT, **kw: object) -> EngagementEvent:
    return EngagementEvent("u1", eid, t, kind, **kw)  # type: ignore[arg-type]


def watch(eid: str, t: float, minutes: float) -> EngagementEvent:
    return ev(eid, t, K.HEARTBEAT, watched_s=minutes * 60.0)


def reference(minutes: dict[int, float], today: int, first: int) -> tuple[float, float]:
    """The decline and level means written out day by day, in plain Python."""

    def mean(s: int, lo: int, hi: int) -> float | None:
        days = [d for d in range(s - hi, s - lo + 1) if d >= first]
        return sum(minutes.get(d, 0.0) for d in days) / len(days) if days else None

    declines, levels = [], []
    for s in range(today - 13, today + 1):
        if s < first and s != today:
            continue
        recent, before = mean(s, 0, 6), mean(s, 8, 28)
        ok = recent is not None and before is not None
        declines.append(
            max(0.0, math.log((before + 30.0) / (recent + 30.0))) if ok else 0.0  # type: ignore[operator]
        )
        levels.append(math.log((mean(s, 0, 13) or 0.0) + 30.0))
    return sum(declines) / len(declines), sum(levels) / len(levels)


def viewer(tr: EngagementTracker, minutes: dict[int, float]) -> UserEngagement:
    st = tr.new_state("u1")
    for d in sorted(minutes):  # event-time order
        tr.apply(st, watch(f"w{d}", d * DAY_S + 10 * H, minutes[d]))
    return st


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_period_means_match_the_day_by_day_definition(seed: int) -> None:
    rng = random.Random(seed)
    today, first = 200, 140
    # Steady, then fading viewing with idle days: every window edge gets exercised.
    minutes = {
        d: (0.0 if rng.random() < 0.3 else rng.uniform(0, 120) * (1.0 if d < 180 else 0.3))
        for d in range(first, today + 1)
    }
    tr = EngagementTracker()
    st = viewer(tr, minutes)
    f = tr.features(st, today * DAY_S + 23 * H)
    decline, level = reference(minutes, today, first)
    assert f[DECLINE] == pytest.approx(decline, rel=1e-9)
    assert f[LEVEL] == pytest.approx(level, rel=1e-9)
    assert f[DECLINE] > 0.1  # the fade is visible
    # The vectorised daily tick computes the same values.
    snap = tr.tick_many([st], today * DAY_S + 23 * H)[0]
    for name in PERIOD_NAMES:
        assert snap.features[name] == pytest.approx(f[name], rel=1e-9)


def test_the_ring_reaches_the_oldest_day_the_period_reads() -> None:
    """Day s-28 of the period's first day is 41 days old: its minutes move the decline mean."""
    tr = EngagementTracker()
    assert tr.ring >= REACH_DAYS + 2
    today = 200
    base = {d: 10.0 for d in range(today - 60, today + 1)}
    heavy = dict(base)
    heavy[today - 41] = 600.0
    older = dict(base)
    older[today - 42] = 600.0  # beyond the reach: no effect
    now = today * DAY_S + 23 * H
    f = {k: tr.features(viewer(tr, m), now) for k, m in (("b", base), ("h", heavy), ("o", older))}
    assert f["b"][DECLINE] == 0.0
    assert f["h"][DECLINE] > 0.0
    assert f["o"][DECLINE] == f["b"][DECLINE]


def test_late_events_land_in_their_day_and_duplicates_count_once() -> None:
    tr = EngagementTracker(lateness_s=48 * H)
    today = 200
    minutes = {d: (60.0 if d < today - 6 else 0.0) for d in range(today - 50, today + 1)}
    st = viewer(tr, minutes)
    now = today * DAY_S + 23 * H
    before = tr.features(st, now)[DECLINE]
    late = watch("late", (today - 1) * DAY_S + 2 * H, 300.0)  # 32 h behind the newest event
    tr.apply(st, late)
    tr.apply(st, late)
    assert st.duplicates == 1
    minutes[today - 1] = 300.0
    want, _ = reference(minutes, today, today - 50)
    f = tr.features(st, now)
    assert f[DECLINE] == pytest.approx(want) and f[DECLINE] < before
    tr.apply(st, watch("too_late", (today - 3) * DAY_S, 900.0))  # beyond the bound: dropped
    assert st.dropped_late == 1
    assert tr.features(st, now)[DECLINE] == pytest.approx(want)


def test_a_new_user_is_not_read_as_declining() -> None:
    """Seen for 10 days at a steady level: no decline, and the level is that of the days seen."""
    tr = EngagementTracker()
    today = 100
    st = viewer(tr, {d: 40.0 for d in range(today - 9, today + 1)})
    f = tr.features(st, today * DAY_S + 23 * H)
    assert f[DECLINE] == 0.0
    assert f[LEVEL] == pytest.approx(math.log(70.0))


def test_rebuffering_is_the_log_ratio_to_a_typical_one() -> None:
    tr = EngagementTracker()
    today = 100
    now = today * DAY_S + 23 * H
    quiet = viewer(tr, {d: 40.0 for d in range(today - 30, today + 1)})
    assert tr.features(quiet, now)[REBUFFER] == 0.0  # nothing played: typical, not perfect
    # 4 % rebuffering on every day of the last four weeks: ten times the typical 0.4 %.
    st = tr.new_state("u1")
    for d in range(today - 27, today + 1):
        tr.apply(
            st, ev(f"c{d}", d * DAY_S + 11 * H, K.CHUNK, duration_s=960.0, rebuffer_ms=40_000.0)
        )
    assert tr.features(st, now)[REBUFFER] == pytest.approx(math.log(10.0))


def test_the_scalar_and_vectorised_paths_agree_on_random_rings() -> None:
    rng = np.random.default_rng(7)
    n, ring, today = 50, 45, 300
    days = today - rng.integers(-1, 60, (n, ring))  # future, present, old and stale days
    days[rng.random((n, ring)) < 0.2] = -1  # empty slots
    counts = rng.exponential(600.0, (n, S.N_COUNTERS, ring))
    counts[:, S.CHUNK_S][rng.random((n, ring)) < 0.5] = 0.0
    begin = (today - rng.uniform(0, 60, n)) * DAY_S
    now = today * DAY_S + 5 * H
    rows = period_matrix(days, counts, begin, now)
    for i in range(n):
        assert period_values(days[i], counts[i], float(begin[i]), now) == pytest.approx(
            rows[i].tolist(), rel=1e-9, abs=1e-12
        )


def test_a_state_written_under_the_old_31_day_ring_grows_and_keeps_its_days() -> None:
    tr = EngagementTracker()
    minutes = {d: 20.0 + d for d in range(170, 200)}
    old = UserEngagement.empty("u1", ring=31, max_ids=1024)  # the ring before the period features
    old.first_time = 170 * DAY_S + 10 * H
    old.max_time = 199 * DAY_S + 10 * H
    for d, m in minutes.items():
        old.counts[S.WATCH_S, old.slot_for(d)] += m * 60.0
    st = UserEngagement.from_bytes(old.to_bytes())
    assert st.ring == 31
    tr.apply(st, watch("today", 200 * DAY_S + 10 * H, 5.0))
    assert st.ring == tr.ring
    minutes[200] = 5.0
    fresh = viewer(tr, minutes)
    now = 200 * DAY_S + 23 * H
    for name in PERIOD_NAMES:
        assert tr.features(st, now)[name] == pytest.approx(tr.features(fresh, now)[name])
    assert tr.features(st, now)[DECLINE] > 0.0
    # The daily tick takes old-ring and new-ring states together.
    idle = UserEngagement.from_bytes(old.to_bytes())
    idle.subscribed = True
    snaps = tr.tick_many([idle, fresh], now)
    assert len(snaps) == 2 and idle.ring == tr.ring
