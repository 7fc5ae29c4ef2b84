"""The benchmark's prequential protocol, checked by hand on a tiny stream."""

import numpy as np

from bench.reco.prequential import run
from services.recommendation.model import Popularity, Recommender


def stream(rows):
    return np.array([(u, i, 4.0, t) for t, (u, i) in enumerate(rows)], dtype=np.float64)


def test_new_users_miss_consumed_items_are_excluded_then_learned():
    data = stream([(1, 10), (2, 10), (2, 20), (1, 20), (3, 30), (1, 30)])
    r = run("pop", Popularity, data, every=10**9)
    # 1: new user; 2: new user; 3: only item 10 exists and u2 consumed it;
    # 4: u1 gets item 20; 5: new user; 6: u1 gets item 30 (10 and 20 excluded)
    assert r.hits10.tolist() == [0, 0, 0, 1, 0, 1]
    assert r.recall10 == 2 / 6
    assert r.rank_ms.size == 3  # only known users are asked


def test_recommender_learns_a_repeated_sequence_in_the_protocol():
    seq = [10, 11, 12, 13]
    data = stream([(u, i) for u in range(1, 30) for i in seq])
    r = run("model", Recommender, data, every=10**9)
    later = r.hits10.reshape(-1, 4)[5:, 1:]  # after a few users, every next title is found
    assert later.all()
