"""The read-out wired to the simulator's per-user totals: per-session ABR arms, the pre-period."""

import numpy as np
import pytest

from reelstream.common.v1 import types_pb2 as types
from services.simulator.arms import ABR_BUFFER_BASED, ABR_LEARNED
from services.simulator.readout import abr_readout, arm_totals, rec_readout, significant
from services.simulator.stats import UserStats

WIFI, G3 = types.NETWORK_TYPE_WIFI, types.NETWORK_TYPE_CELLULAR_3G


def abr_world(seed: int, effect: float) -> tuple[UserStats, np.ndarray]:
    """300 users, 10 sessions each, arms per session; 3G users stall a lot, learned less."""
    rng = np.random.default_rng(seed)
    n = 300
    network = np.where(rng.random(n) < 0.2, G3, WIFI)
    s = UserStats(n)
    for u in range(n):
        base = 0.05 if network[u] == G3 else 0.002
        for _ in range(10):
            arm = ABR_LEARNED if rng.random() < 0.5 else ABR_BUFFER_BASED
            s.session(u, arm)
            p = base * (1 - effect if arm == ABR_LEARNED else 1.0)
            for _ in range(20):
                stall = float(rng.exponential(4.0)) if rng.random() < p * 5 else 0.0
                s.chunk(u, 4.0, stall, 3000 if arm == ABR_LEARNED else 2800, 4.0, arm)
    return s, network


def test_abr_readout_finds_a_known_stall_reduction_in_paired_users():
    s, network = abr_world(seed=1, effect=0.5)
    users = np.arange(300)
    lifts = abr_readout(s, users, network, ABR_BUFFER_BASED, ABR_LEARNED)
    rr = lifts["rebuffer_ratio"]
    assert rr.diff < 0 and rr.significant
    assert rr.diff / rr.control == pytest.approx(-0.5, abs=0.2)
    assert "cellular_3g" in rr.method and "wifi" in rr.method
    assert {"rebuffer_ratio[cellular_3g]", "rebuffer_ratio[wifi]"} <= set(lifts)
    assert lifts["bitrate_kbps"].diff == pytest.approx(200.0)
    assert "rebuffer_ratio" in significant(lifts)
    totals = arm_totals(s, users, ABR_LEARNED)
    assert totals["users_with_sessions"] > 290 and totals["sessions"] > 1300


def test_abr_readout_stays_quiet_without_an_effect():
    s, network = abr_world(seed=2, effect=0.0)
    lifts = abr_readout(s, np.arange(300), network, ABR_BUFFER_BASED, ABR_LEARNED)
    assert not lifts["rebuffer_ratio"].significant
    assert not lifts["hours_per_session"].significant


def test_rec_readout_counts_only_the_experiment_period():
    s = UserStats(4)
    for u in range(4):
        s.visit(u, 0.0, 1.0)
        s.sittings[u] += 1
        s.chunk(u, 3600.0, 0.0, 3000, 4.0)  # one pre-period hour each
    s.end_pre_period()
    s.end_pre_period()  # only the first snapshot counts
    for u, hours in ((0, 1.0), (1, 2.0), (2, 3.0), (3, 5.0)):
        s.visit(u, 0.5, 1.0)
        s.sittings[u] += 1
        s.chunk(u, hours * 3600.0, 0.0, 3000, 4.0)
    lifts = rec_readout(s, np.array([0, 1]), np.array([2, 3]), now_s=86_400.0)
    assert lifts["hours_per_user_plain"].control == pytest.approx(1.5)
    assert lifts["hours_per_user_plain"].treatment == pytest.approx(4.0)
    assert lifts["hours_per_sitting"].diff == pytest.approx(2.5)
    assert lifts["found_share"].diff == 0.0
    # The pre-period covariates are all equal: CUPED has nothing to use, same as plain.
    assert lifts["hours_per_user"].diff == pytest.approx(2.5)
