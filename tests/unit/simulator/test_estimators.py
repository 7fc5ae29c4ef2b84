"""The read-out's estimators on synthetic experiments with a known effect (seeded).

Each estimator must (a) reject a null effect at about its nominal 5% rate over
many independent replications, and (b) detect a known effect; the sensitive
designs must beat the plain per-user comparison they replace.
"""

import math

import numpy as np
import pytest

from services.simulator.estimators import Estimate, cuped_lift, ratio_lift, stratified
from services.simulator.readout import _ratio

REPS = 300


def sessions_world(rng, users=400, effect=0.0, share=0.5, per_user_arms=False):
    """Per-user, per-arm totals of a stall-ratio experiment.

    Users differ a lot (a weak-network minority stalls 30x more); sessions draw
    their arm with probability ``share`` (or the user's hash decides all of them);
    treatment multiplies the stall rate by ``1 - effect``.
    """
    weak = rng.random(users) < 0.15
    base = np.where(weak, 0.03, 0.001) * rng.lognormal(0.0, 0.5, users)
    n_sess = rng.poisson(6, users) + 1
    user = np.repeat(np.arange(users), n_sess)
    by_user = (rng.random(users) < share)[user]
    treated = by_user if per_user_arms else rng.random(len(user)) < share
    played = rng.gamma(1.5, 1200.0, len(user))
    rate = base[user] * np.where(treated, 1.0 - effect, 1.0)
    stall = rng.gamma(2.0, rate * played / 2.0)
    out = {}
    for arm, mask in (("c", ~treated), ("t", treated)):
        out[f"stall_{arm}"] = np.bincount(user[mask], stall[mask], users)
        out[f"time_{arm}"] = np.bincount(user[mask], (stall + played)[mask], users)
    out["weak"] = weak
    return out


def ratio_of(w):
    return ratio_lift(w["stall_c"], w["time_c"], w["stall_t"], w["time_t"])


def strata_of(w):
    parts, weights = {}, {}
    for name, m in (("weak", w["weak"]), ("good", ~w["weak"])):
        parts[name] = ratio_lift(w["stall_c"][m], w["time_c"][m], w["stall_t"][m], w["time_t"][m])
        weights[name] = float((w["time_c"][m] + w["time_t"][m]).sum())
    return stratified(parts, weights)


def rejection_rate(make, estimate, seed):
    rng = np.random.default_rng(seed)
    return float(np.mean([estimate(make(rng)).significant for _ in range(REPS)]))


def test_paired_ratio_has_nominal_false_positive_rate():
    rate = rejection_rate(lambda r: sessions_world(r), ratio_of, seed=1)
    assert 0.02 <= rate <= 0.09


def test_paired_ratio_detects_a_known_stall_reduction():
    rng = np.random.default_rng(2)
    hits, diffs = [], []
    for _ in range(100):
        w = sessions_world(rng, effect=0.4)
        est = ratio_of(w)
        hits.append(est.significant and est.diff < 0)
        diffs.append(est.diff / est.control)
    assert np.mean(hits) > 0.8
    assert np.mean(diffs) == pytest.approx(-0.4, abs=0.05)  # unbiased for the relative effect


def test_per_user_ratio_is_valid_too():
    # The same estimator with every session of a user in one arm (recommendation's design).
    make = lambda r: sessions_world(r, per_user_arms=True)  # noqa: E731
    assert 0.02 <= rejection_rate(make, ratio_of, seed=3) <= 0.09


def test_session_arms_beat_user_arms_on_the_same_audience():
    rng = np.random.default_rng(4)
    width_session = np.mean([ratio_of(sessions_world(rng)).se for _ in range(50)])
    width_user = np.mean([ratio_of(sessions_world(rng, per_user_arms=True)).se for _ in range(50)])
    assert width_session < 0.75 * width_user


def test_stratified_has_nominal_rate_and_detects_the_effect():
    assert 0.02 <= rejection_rate(lambda r: sessions_world(r), strata_of, seed=5) <= 0.09
    make = lambda r: sessions_world(r, effect=0.4)  # noqa: E731
    assert rejection_rate(make, strata_of, seed=6) > 0.8


def test_stratified_combination_arithmetic():
    a = Estimate(1.0, 2.0, 1.0, 0.3, 100, "m", 50)
    b = Estimate(2.0, 2.0, 0.0, 0.4, 100, "m", 50)
    bad = Estimate(math.nan, math.nan, math.nan, math.nan, 1, "m", 1)
    est = stratified({"a": a, "b": b, "tiny": bad}, {"a": 1.0, "b": 3.0, "tiny": 5.0})
    assert est.diff == pytest.approx(0.25)
    assert est.se == pytest.approx(math.sqrt((0.25 * 0.3) ** 2 + (0.75 * 0.4) ** 2))
    assert "tiny" in est.method and est.units == 100
    va, vb = (0.25 * 0.3) ** 2, (0.75 * 0.4) ** 2
    assert est.df == pytest.approx((va + vb) ** 2 / (va**2 / 100 + vb**2 / 100))  # Satterthwaite


def activity_world(rng, users=600, effect=0.0):
    """Hours per user: a persistent activity level, seen in a pre-period and the experiment."""
    level = rng.lognormal(-1.0, 0.8, users)
    arm = rng.random(users) < 0.5
    pre = rng.gamma(6.0, level / 6.0)  # the same habits, before the arms diverge
    post = rng.gamma(4.0, level / 4.0) * 5.0 * np.where(arm, 1.0 + effect, 1.0)
    return arm, pre, post


def cuped(arm, pre, post):
    return cuped_lift(post[~arm], post[arm], pre[~arm, None], pre[arm, None])


def plain(arm, pre, post):
    return cuped_lift(post[~arm], post[arm], np.zeros((0, 1)), np.zeros((0, 1)))


def test_cuped_has_nominal_false_positive_rate():
    rate = rejection_rate(lambda r: activity_world(r), lambda w: cuped(*w), seed=7)
    assert 0.02 <= rate <= 0.09


def test_cuped_detects_what_the_plain_difference_misses():
    make = lambda r: activity_world(r, effect=0.2)  # noqa: E731
    with_cuped = rejection_rate(make, lambda w: cuped(*w), seed=8)
    without = rejection_rate(make, lambda w: plain(*w), seed=8)
    assert with_cuped > 0.7 and with_cuped > without + 0.2


def test_cuped_is_unbiased_for_the_known_effect():
    rng = np.random.default_rng(9)
    diffs = [cuped(*activity_world(rng, effect=0.12)).diff for _ in range(200)]
    truth = np.mean([np.mean(activity_world(rng)[2]) * 0.12 for _ in range(200)])
    assert np.mean(diffs) == pytest.approx(truth, rel=0.1)


def test_split_columns_feed_the_per_user_ratio():
    treated = np.array([False, True, True])
    est = _ratio(np.array([1.0, 2.0, 4.0]), np.array([2.0, 4.0, 4.0]), treated, "m")
    assert est.control == 0.5 and est.treatment == pytest.approx(6.0 / 8.0)


def test_a_small_noisy_stratum_sets_the_degrees_of_freedom():
    small = Estimate(0.03, 0.02, -0.01, 0.01, 18, "m", 19)
    big = Estimate(0.0, 0.0, 0.0, 0.0001, 400, "m", 401)
    est = stratified({"3g": small, "wifi": big}, {"3g": 0.1, "wifi": 0.9})
    assert 18 <= est.df < 20


def test_ratio_interval_with_twenty_users_is_not_far_from_nominal():
    # The size of the weak-network stratum in a five-minute run.
    make = lambda r: sessions_world(r, users=20)  # noqa: E731
    assert rejection_rate(make, ratio_of, seed=10) <= 0.12
