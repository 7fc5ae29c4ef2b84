"""Welch intervals, lifts and per-user outcomes on known data."""

import math

import numpy as np
import pytest

from services.simulator.stats import Lift, UserStats, arm_figures, t_quantile_975, welch_ci


def test_t_quantiles_match_tables():
    # Student t 0.975 quantiles from standard tables.
    for df, q in ((5, 2.5706), (10, 2.2281), (20, 2.0860), (60, 2.0003), (120, 1.9799)):
        assert t_quantile_975(df) == pytest.approx(q, abs=2e-3)


def test_welch_interval_on_known_data():
    # Reference: scipy.stats.ttest_ind(b, a, equal_var=False).confidence_interval()
    # gives (-0.23371, 4.23371) for these (df = 6).
    diff, lo, hi = welch_ci([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0])
    assert diff == 2.0
    assert lo == pytest.approx(-0.23371, abs=1e-3)
    assert hi == pytest.approx(4.23371, abs=1e-3)


def test_welch_with_unequal_variances():
    a = [8.0, 9.0, 10.0, 11.0, 12.0]  # mean 10, var 2.5 -> var of mean 0.5
    b = [8.0, 10.0, 14.0, 18.0]  # mean 12.5, var 59/3 -> var of mean 59/12
    diff, lo, hi = welch_ci(a, b)
    se = math.sqrt(0.5 + 59 / 12)
    df = (0.5 + 59 / 12) ** 2 / (0.5**2 / 4 + (59 / 12) ** 2 / 3)
    assert diff == 2.5
    assert df == pytest.approx(3.6132, abs=1e-3)  # Welch-Satterthwaite, not n_a + n_b - 2
    # Reference: scipy.stats.ttest_ind(b, a, equal_var=False) -> (-4.24402, 9.24402).
    assert lo == pytest.approx(-4.24402, abs=5e-3)
    assert hi == pytest.approx(9.24402, abs=5e-3)
    assert (hi - lo) / 2 / se > 2.776  # wider than the t(4) quantile: fractional df < 4


def test_large_samples_detect_a_real_lift_and_not_a_null_one():
    rng = np.random.default_rng(0)
    control = rng.normal(1.0, 0.5, 2000)
    treated = rng.normal(1.1, 0.5, 2000)
    lift = Lift.of(control.tolist(), treated.tolist())
    assert lift.ci95[0] > 0 and lift.as_dict()["significant"]
    assert 0.05 < lift.relative < 0.15
    null = Lift.of(control.tolist(), rng.normal(1.0, 0.5, 2000).tolist())
    assert null.ci95[0] < 0 < null.ci95[1]


def test_too_few_users_give_no_interval():
    diff, lo, hi = welch_ci([1.0], [2.0, 3.0])
    assert diff == 1.5 and math.isnan(lo) and math.isnan(hi)
    assert Lift.of([1.0], [2.0]).as_dict()["ci95"] == [None, None]


def test_per_user_outcomes():
    s = UserStats(3)
    s.signup_s = [0.0, 0.0, 43_200.0]
    s.chunk(0, played_s=3.0, rebuffer_s=1.0, kbps=750, chunk_s=4.0)
    s.chunk(0, played_s=4.0, rebuffer_s=0.0, kbps=4300, chunk_s=4.0)
    s.cancel_s[1] = 86_400.0
    out = s.per_user(np.array([0, 1, 2]), now_s=2 * 86_400.0)
    assert out["hours"][0] == pytest.approx(7 / 3600)
    assert out["hours_per_day"][0] == pytest.approx(7 / 3600 / 2)
    assert out["rebuffer_ratio"][0] == pytest.approx(1 / 8)
    assert out["bitrate_kbps"][0] == pytest.approx((750 + 4300) / 2)
    assert math.isnan(out["bitrate_kbps"][1])
    assert list(out["cancelled"]) == [0.0, 1.0, 0.0]


def test_relevance_outcomes_and_pooled_ratios():
    s = UserStats(2)
    s.signup_s = [0.0, 0.0]
    s.visit(0, shown_taste=0.5, picked_taste=1.5)
    s.visit(0, shown_taste=-0.5, picked_taste=None)
    s.chunk(0, played_s=96.0, rebuffer_s=4.0, kbps=1000, chunk_s=4.0)
    s.chunk(1, played_s=100.0, rebuffer_s=0.0, kbps=3000, chunk_s=4.0)
    out = s.per_user(np.array([0, 1]), now_s=86_400.0)
    assert out["found_share"][0] == 0.5 and out["shown_taste"][0] == 0.0
    assert out["picked_taste"][0] == 1.5 and math.isnan(out["found_share"][1])
    figures = arm_figures(out)
    assert figures["pooled_rebuffer_ratio"] == pytest.approx(4.0 / 200.0)
    assert figures["pooled_bitrate_kbps"] == 2000.0
    assert figures["rebuffer_ratio"] == pytest.approx((0.04 + 0.0) / 2)
