"""The windowed logistic hazard model and the short-horizon training labels of the churn model."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from services.churn.candidates import compile_estimator
from services.churn.hazard import WindowLogistic
from services.churn.labels import DAY_S, DelayedLabeler
from services.churn.model import ChurnModel


def rows(
    rng: random.Random, n: int, w_a: float = 2.0, bias: float = -1.0
) -> tuple[list[dict[str, float]], list[bool]]:
    xs = [
        {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "sessions_7d": float(rng.randint(0, 9))}
        for _ in range(n)
    ]
    ys = [rng.random() < 1 / (1 + math.exp(-(w_a * x["a"] + bias))) for x in xs]
    return xs, ys


def test_recovers_the_generating_weights_and_ranks() -> None:
    rng = random.Random(0)
    m = WindowLogistic(window=20_000, l2_per_row=0.0)
    for _ in range(5):  # daily batches
        m.learn_many(*rows(rng, 2000))
    coef, intercept = m.coefficients()
    assert coef["a"] == pytest.approx(2.0, abs=0.2)
    assert abs(coef["b"]) < 0.15 and abs(coef["sessions_7d"]) < 0.15
    assert intercept == pytest.approx(-1.0, abs=0.2)
    hi = m.predict_proba_one({"a": 1.5, "b": 0.0, "sessions_7d": 3.0})[True]
    lo = m.predict_proba_one({"a": -1.5, "b": 0.0, "sessions_7d": 3.0})[True]
    assert hi > 0.85 and lo < 0.05


def test_per_row_penalty_shrinks_alike_whatever_the_row_count() -> None:
    def fitted_a(n: int, l2_per_row: float) -> float:
        m = WindowLogistic(window=n, l2_per_row=l2_per_row)
        m.learn_many(*rows(random.Random(5), n))
        return m.coefficients()[0]["a"]

    free = fitted_a(8000, 0.0)
    small, large = fitted_a(2000, 0.05), fitted_a(8000, 0.05)
    assert free == pytest.approx(2.0, abs=0.15)
    assert 0.5 < small < free - 0.2 and 0.5 < large < free - 0.2  # shrunk, not erased
    assert small == pytest.approx(large, abs=0.2)  # the same strength at 4x the rows


def test_window_forgets_an_old_regime() -> None:
    rng = random.Random(1)
    m = WindowLogistic(window=4000)
    for _ in range(3):
        m.learn_many(*rows(rng, 2000, w_a=2.0))
    assert m.coefficients()[0]["a"] > 1.5
    for _ in range(4):  # the world flips: the window holds only the new regime
        m.learn_many(*rows(rng, 2000, w_a=-2.0))
    assert len(m) == 4000 and m.n_seen == 14_000
    assert m.coefficients()[0]["a"] < -1.5


def test_too_few_positives_keep_the_previous_fit() -> None:
    m = WindowLogistic()
    m.learn_many([{"a": float(i)} for i in range(100)], [False] * 100)
    assert m.predict_proba_one({"a": 5.0})[True] == 0.5  # nothing learnable yet, no blow-up
    rng = random.Random(2)
    m.learn_many(*rows(rng, 3000))
    assert math.isfinite(m.b) and all(math.isfinite(w) for w in m.w)


def test_a_rare_feature_cannot_swamp_the_fit() -> None:
    """A count that is zero for weeks, then once not, stays within the clip (was AUC 0.54)."""
    rng = random.Random(3)
    m = WindowLogistic(window=10_000)
    xs, ys = rows(rng, 3000)
    for x in xs:
        x["plan_changes_28d"] = 0.0
    xs[0]["plan_changes_28d"] = 1.0
    m.learn_many(xs, ys)
    z = m.standardised({"a": 0.0, "b": 0.0, "sessions_7d": 3.0, "plan_changes_28d": 1.0})
    assert abs(z["plan_changes_28d"]) <= m.clip
    assert abs(m.weight_of("plan_changes_28d")) < 1.0


def test_compiled_scorer_matches_and_reads_do_not_mutate() -> None:
    rng = random.Random(4)
    m = WindowLogistic(window=5000)
    m.learn_many(*rows(rng, 3000))
    comp = compile_estimator(m)
    before = pickle.dumps(m)
    for x in rows(rng, 200)[0] + [{"a": 40.0, "b": -40.0, "sessions_7d": 1e6}]:
        assert comp.score(x) == pytest.approx(m.predict_proba_one(x)[True], abs=1e-9)
    assert comp.score({"a": 1.0}) is None  # other feature names: caller falls back
    m.standardised({"a": 1.0})
    assert pickle.dumps(m) == before
    back = pickle.loads(before)
    x = {"a": 0.3, "b": 0.1, "sessions_7d": 2.0}
    assert back.predict_proba_one(x) == m.predict_proba_one(x)


def test_missing_and_unknown_features() -> None:
    rng = random.Random(5)
    m = WindowLogistic()
    m.learn_many(*rows(rng, 3000))
    p = m.predict_proba_one({"a": 1.0, "unheard_of": 7.0})[True]  # b, sessions -> mean
    assert 0.0 < p < 1.0 and math.isfinite(p)


def _model(train_days: float) -> ChurnModel:
    return ChurnModel(
        labeler=DelayedLabeler(horizon_s=30 * DAY_S, lateness_s=2 * DAY_S),
        train_horizon_s=train_days * DAY_S,
    )


def test_short_horizon_labels_are_learned_only_once_their_horizon_closed() -> None:
    """No training label is used before ``t + train horizon + lateness``: no future leaks."""
    m = _model(7)
    x = {"a": 1.0, "b": 0.0}
    m.observe("u1", 10 * DAY_S, x)
    m.observe("u2", 10 * DAY_S, x)
    m.observe_cancel("u1", 12 * DAY_S)  # a positive known at day 12 ...
    m.advance(18.9 * DAY_S)
    assert m.n_train == 0  # ... still waits: day 10 + 7 + 2 = 19
    m.advance(19.1 * DAY_S)
    assert m.n_train == 2  # the positive and the negative, together
    assert m.n_labels == 0  # the 30-day labels wait for day 42
    m.advance(42.1 * DAY_S)
    assert m.n_labels == 2 and m.n_positive == 1


class Recorder:
    """A minimal estimator: serves ``x["p"]`` and records the labels it is taught."""

    def __init__(self) -> None:
        self.taught: list[bool] = []

    def learn_many(self, xs: list[dict[str, float]], ys: list[bool]) -> None:
        self.taught.extend(ys)

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        p = x.get("p", 0.1)
        return {True: p, False: 1 - p}


def test_cancel_after_the_short_horizon_is_a_short_negative() -> None:
    rec = Recorder()
    m = ChurnModel(candidates={"linear": rec}, train_horizon_s=7 * DAY_S, train_gap_s=DAY_S)
    m.observe("u", 0.0, {"a": 0.0})
    m.observe("u", 1.5 * DAY_S, {"a": 0.0})
    m.observe_cancel("u", 8 * DAY_S)  # 8 days after the first, 6.5 after the second
    m.advance(20 * DAY_S)
    assert rec.taught == [False, True]


def test_serving_maps_the_short_hazard_to_the_long_horizon() -> None:
    """``1 - (1 - p) ** (30 / 7)`` before calibration: monotone, and above the short risk."""
    m = ChurnModel(candidates={"linear": Recorder()}, calibrate=(), train_horizon_s=7 * DAY_S)
    served = []
    for i, p in enumerate((0.01, 0.05, 0.2)):
        served.append(m.observe(f"u{i}", 0.0, {"p": p}))
        assert served[-1] == pytest.approx(1 - (1 - p) ** (30 / 7))
    assert served == sorted(served)
