"""Per-user feature history: daily values, the rolling mean, late snapshots, and what it buys a model."""

from __future__ import annotations

import copy
import pickle
import random

from sklearn.metrics import roc_auc_score

from services.churn.hazard import WindowLogistic
from services.churn.history import DAY_S, FeatureHistory
from services.churn.labels import DelayedLabeler
from services.churn.model import ChurnModel


def drop(v: float) -> dict[str, float]:
    return {"minutes_drop_7d": v, "ctr_28d": 0.1}


def test_mean_uses_the_latest_snapshot_of_each_day_within_the_window() -> None:
    h = FeatureHistory(("minutes_drop_7d",), days=4)
    h.update("u", 0.5 * DAY_S, drop(9.0))
    h.update("u", 0.9 * DAY_S, drop(1.0))  # same day: replaces 9.0
    h.update("u", 1.5 * DAY_S, drop(2.0))
    out = h.update("u", 2.5 * DAY_S, drop(3.0))
    assert out["minutes_drop_7d_mean14d"] == 2.0
    assert out["minutes_drop_7d"] == 3.0 and out["ctr_28d"] == 0.1
    # Day 5: days 0 and 1 have left the 4-day window, day 2 stays.
    assert h.update("u", 5.2 * DAY_S, drop(5.0))["minutes_drop_7d_mean14d"] == 4.0


def test_values_are_averaged_as_the_model_reads_them() -> None:
    h = FeatureHistory(("minutes_7d",), days=14)
    h.update("u", 0.0, {"minutes_7d": 0.0})
    out = h.update("u", DAY_S, {"minutes_7d": 99.0})
    assert abs(out["minutes_7d_mean14d"] - 0.5 * (0.0 + 4.605170185988092)) < 1e-9


def test_late_snapshot_reads_the_history_without_changing_it() -> None:
    h = FeatureHistory(("minutes_drop_7d",), days=14)
    for d, v in enumerate([0.2, 0.4, 0.6]):
        h.update("u", d * DAY_S, drop(v))
    before = pickle.dumps(h)
    late = h.update("u", 0.5 * DAY_S, drop(1.0))  # day 0, older than the newest day
    assert pickle.dumps(h) == before
    assert abs(late["minutes_drop_7d_mean14d"] - 0.6) < 1e-12  # day 0 (0.2) and the snapshot


def test_users_are_independent_and_forgotten() -> None:
    h = FeatureHistory(("minutes_drop_7d",), days=14)
    h.update("a", 0.0, drop(1.0))
    assert h.update("b", DAY_S, drop(0.0))["minutes_drop_7d_mean14d"] == 0.0
    h.forget("a")
    assert h.update("a", 2 * DAY_S, drop(0.5))["minutes_drop_7d_mean14d"] == 0.5
    assert len(h) == 2


def test_missing_feature_adds_no_mean() -> None:
    h = FeatureHistory(("minutes_drop_7d",), days=14)
    assert "minutes_drop_7d_mean14d" not in h.update("u", 0.0, {"ctr_28d": 0.1})


def test_churn_model_reads_snapshots_with_their_history_and_forgets_cancelled_users() -> None:
    off = ChurnModel(labeler=DelayedLabeler(horizon_s=30 * DAY_S))  # the default: no history
    off.observe("u", 0.0, drop(0.3))
    assert set(off._users["u"].features) == set(drop(0.3))
    m = ChurnModel(labeler=DelayedLabeler(horizon_s=30 * DAY_S), history=FeatureHistory())
    for d in range(3):
        m.observe("u", d * DAY_S, drop(0.3 * d))
    assert abs(m._users["u"].features["minutes_drop_7d_mean14d"] - 0.3) < 1e-12
    served = copy.deepcopy(m.history)
    m.risk("u")
    assert pickle.dumps(m.history) == pickle.dumps(served)  # a read does not record anything
    m.observe_cancel("u", 3 * DAY_S)
    assert len(m.history) == 0


def test_history_lets_a_model_see_a_sustained_drop_through_daily_noise() -> None:
    """Cancellation follows each user's drop over two weeks; one day's value is a noisy sample."""
    rng = random.Random(3)
    rows: list[tuple[list[dict[str, float]], bool]] = []
    for i in range(3000):
        level = rng.uniform(0.0, 1.0)
        h = FeatureHistory(("minutes_drop_7d",), days=14)
        x: dict[str, float] = {}
        for d in range(14):
            x = h.update(f"u{i}", d * DAY_S, drop(level + rng.gauss(0, 1.0)))
        y = rng.random() < 0.05 + 0.4 * level
        rows.append(([{"minutes_drop_7d": x["minutes_drop_7d"]}, x], y))
    train, test = rows[:2000], rows[2000:]
    ys = [y for _, y in test]
    aucs = []
    for k in (0, 1):
        m = WindowLogistic(l2_per_row=0.0)
        m.learn_many([xs[k] for xs, _ in train], [y for _, y in train])
        aucs.append(roc_auc_score(ys, [m.predict_proba_one(xs[k])[True] for xs, _ in test]))
    today_only, with_history = aucs
    assert with_history > today_only + 0.05


def test_a_snapshot_from_before_the_history_loads_and_scores() -> None:
    m = ChurnModel()
    m.observe("u", 0.0, {"minutes_7d": 30.0})
    state = dict(m.__dict__)
    del state["history"]  # what a snapshot pickled before the history holds
    old = ChurnModel.__new__(ChurnModel)
    old.__setstate__(state)
    restored = pickle.loads(pickle.dumps(old))
    assert len(restored.history) == 0
    restored.observe("u", DAY_S, {"minutes_7d": 20.0})
    assert len(restored.history) == 1
