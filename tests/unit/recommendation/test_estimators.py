"""One shared River-style check list run against every estimator of the package."""

import pickle

import numpy as np
import pytest

from services.recommendation.model import CoVisitation, DecayedPopularity, PositiveMF
from services.recommendation.model.appeal import Appeal


def drive(est, seed=0):
    rng = np.random.default_rng(seed)
    for t in range(200):
        u, i = int(rng.integers(0, 10)), int(rng.integers(0, 30))
        if isinstance(est, PositiveMF):
            est.learn_one(u, i)
        elif isinstance(est, CoVisitation):
            est.learn_one(rng.integers(0, 30, 5) if t else np.zeros(0, np.int64), i if t else 29)
        elif isinstance(est, Appeal):
            est.learn_one(i, rng.integers(0, 30, u % 4))
        else:
            est.learn_one(i, ts=float(t), segments=(f"region:{u % 3}",))
    return est


def read(est):
    if isinstance(est, PositiveMF):
        return est.scores(3, 40), est.scores(99, 40)  # known and unseen user
    if isinstance(est, CoVisitation):
        return est.scores(np.array([1, 2, 999]), 40), est.neighbours(500, 40)
    if isinstance(est, Appeal):
        return est.scores(40), est.scores(3)
    return est.scores(40), est.scores(40, segment="region:never")


ESTIMATORS = [
    lambda seed: PositiveMF(n_factors=4, seed=seed),
    lambda seed: CoVisitation(window=5),
    lambda seed: DecayedPopularity(half_life_s=50.0),
    lambda seed: Appeal(prior_n=3.0),
]


@pytest.mark.parametrize("make", ESTIMATORS)
def test_pickle_round_trip(make):
    est = drive(make(0))
    clone = pickle.loads(pickle.dumps(est))
    for a, b in zip(read(est), read(clone), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_reads_of_unseen_ids_do_not_mutate(make):
    est = drive(make(0))
    before = pickle.dumps(est)
    read(est)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("make", ESTIMATORS)
def test_same_seed_same_result(make):
    for a, b in zip(read(drive(make(1))), read(drive(make(1))), strict=True):
        np.testing.assert_array_equal(a, b)


def test_mf_unseen_pair_scores_zero():
    mf = drive(PositiveMF(n_factors=4))
    assert mf.predict_one(99, 1) == 0.0
    assert mf.predict_one(1, 999) == 0.0


def test_popularity_halves_every_half_life():
    pop = DecayedPopularity(half_life_s=100.0)
    pop.learn_one(0, ts=1e9)
    assert pop.scores(1, ts=1e9 + 100.0)[0] == pytest.approx(0.5)
    pop.learn_one(0, ts=1e9 + 1e6)  # far later: rebases without overflow
    assert pop.scores(1)[0] == pytest.approx(1.0)


def test_appeal_ranks_a_title_picked_over_its_neighbours_above_one_passed_over():
    ap = Appeal()
    for _ in range(10):
        ap.learn_one(1, np.array([0, 2]))  # 1 is picked, 0 and 2 passed over
    ap.learn_one(2, np.array([0]))
    s = ap.scores(4)
    assert s[1] > s[3] > s[2] > s[0]  # 3 was never shown: the global rate
    assert s.min() >= 0.0 and s.max() <= 1.0
