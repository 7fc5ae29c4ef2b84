"""Retention policy: one action per upward crossing, rate limit, idempotent ids, graceful degradation."""

from __future__ import annotations

import pickle
from collections.abc import Sequence

from services.churn.actions import DAY_S, GENERIC_MESSAGE, ActionKind, RetentionPolicy, action_id
from services.churn.factors import Factor

QUALITY = [Factor("rebuffer_ratio_7d", "frequent rebuffering", 1.2)]
ENGAGEMENT = [Factor("minutes_ratio_7d_28d", "watching much less than last month", 0.9)]


class Recs:
    def __init__(self, fail: bool = False, empty: bool = False) -> None:
        self.fail, self.empty, self.calls = fail, empty, 0

    def __call__(self, user_id: str, kind: ActionKind, limit: int) -> Sequence[str]:
        self.calls += 1
        if self.fail:
            raise ConnectionError("recommendation service unavailable")
        return [] if self.empty else [f"rec{i}" for i in range(limit)]


def test_one_action_per_upward_crossing() -> None:
    pol = RetentionPolicy(threshold=0.3, window_s=7 * DAY_S, recommender=Recs())
    risks = [0.1, 0.2, 0.35, 0.4, 0.5, 0.45]  # one crossing, then staying above
    out = [pol.observe("u", i * 3600.0, r, lambda: ENGAGEMENT) for i, r in enumerate(risks)]
    fired = [a for a in out if a is not None]
    assert len(fired) == 1
    a = fired[0]
    assert a.time == 2 * 3600.0 and a.kind is ActionKind.NEW_RECOMMENDATION
    assert a.title_ids == ("rec0", "rec1", "rec2") and not a.degraded
    assert "watching much less than last month" in a.reason and "0.35" in a.reason


def test_no_second_action_within_the_window_even_on_a_new_crossing() -> None:
    pol = RetentionPolicy(threshold=0.3, window_s=7 * DAY_S, recommender=Recs())
    assert pol.observe("u", 0.0, 0.5, lambda: ENGAGEMENT) is not None
    assert pol.observe("u", 1 * DAY_S, 0.1, lambda: ENGAGEMENT) is None
    assert pol.observe("u", 2 * DAY_S, 0.6, lambda: ENGAGEMENT) is None  # crossing, rate-limited
    assert pol.suppressed == 1
    assert pol.observe("u", 8 * DAY_S, 0.1, lambda: ENGAGEMENT) is None
    later = pol.observe("u", 9 * DAY_S, 0.6, lambda: ENGAGEMENT)
    assert later is not None and later.action_id == action_id("u", 1)


def test_factors_are_computed_only_for_actions() -> None:
    calls = []

    def factors() -> list[Factor]:
        calls.append(1)
        return ENGAGEMENT

    pol = RetentionPolicy(threshold=0.3, recommender=Recs())
    for i in range(10):
        pol.observe("u", float(i), 0.1, factors)
    assert calls == []
    pol.observe("u", 11.0, 0.9, factors)
    assert calls == [1]


def test_kinds_follow_the_top_factor_and_unfinished_title() -> None:
    pol = RetentionPolicy(threshold=0.3, recommender=Recs())
    q = pol.observe("a", 0.0, 0.9, lambda: QUALITY + ENGAGEMENT, unfinished_title="t7")
    assert q is not None and q.kind is ActionKind.QUALITY_APOLOGY
    cw = pol.observe("b", 0.0, 0.9, lambda: ENGAGEMENT + QUALITY, unfinished_title="t7")
    assert cw is not None and cw.kind is ActionKind.CONTINUE_WATCHING and cw.title_ids == ("t7",)
    nr = pol.observe("c", 0.0, 0.9, lambda: ENGAGEMENT)
    assert nr is not None and nr.kind is ActionKind.NEW_RECOMMENDATION


def test_action_ids_are_idempotent_across_a_pickle_restart() -> None:
    recs = Recs()
    pol = RetentionPolicy(threshold=0.3, window_s=7 * DAY_S, recommender=recs)
    pol.observe("u", 0.0, 0.1, lambda: ENGAGEMENT)
    snapshot = pickle.dumps(pol)
    first = pol.observe("u", DAY_S, 0.8, lambda: ENGAGEMENT)
    # Crash after the action went out but before the next snapshot: replay from the snapshot.
    restored = pickle.loads(snapshot)
    assert restored.recommender is None  # live client not pickled ...
    restored.recommender = recs  # ... re-attached on start
    again = restored.observe("u", DAY_S, 0.8, lambda: ENGAGEMENT)
    assert first is not None and again is not None
    assert again.action_id == first.action_id == action_id("u", 0)
    # And a snapshot taken after the action remembers it: no duplicate on replay.
    after = pickle.loads(pickle.dumps(pol))
    after.recommender = recs
    assert after.observe("u", DAY_S + 60, 0.9, lambda: ENGAGEMENT) is None


def test_recommender_failure_degrades_to_a_generic_message() -> None:
    pol = RetentionPolicy(threshold=0.3, recommender=Recs(fail=True))
    a = pol.observe("u", 0.0, 0.9, lambda: ENGAGEMENT)
    assert a is not None and a.degraded and a.title_ids == () and a.message == GENERIC_MESSAGE
    b = RetentionPolicy(threshold=0.3, recommender=Recs(empty=True)).observe(
        "u", 0.0, 0.9, lambda: ENGAGEMENT
    )
    assert b is not None and b.degraded and b.message == GENERIC_MESSAGE
    apology = pol.observe("v", 0.0, 0.9, lambda: QUALITY)
    assert apology is not None and apology.kind is ActionKind.QUALITY_APOLOGY
    assert apology.degraded and apology.message != GENERIC_MESSAGE  # the apology still stands
    assert pol.degraded == 2


def test_late_snapshot_does_not_redecide_and_state_is_bounded() -> None:
    pol = RetentionPolicy(threshold=0.3, recommender=Recs(), idle_s=10 * DAY_S)
    pol.observe("u", 5 * DAY_S, 0.1, lambda: ENGAGEMENT)
    assert pol.observe("u", 4 * DAY_S, 0.9, lambda: ENGAGEMENT) is None
    pol.observe("v", 14 * DAY_S, 0.1, lambda: ENGAGEMENT)
    assert pol.expire(16 * DAY_S) == 1 and len(pol) == 1
    pol.forget("v")
    assert len(pol) == 0
