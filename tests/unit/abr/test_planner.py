"""Hand-made planner cases: down-switch, up-switch, seek, cap and the reason strings."""

import numpy as np
import pytest

from services.abr.engine import AbrEngine
from services.abr.planner import MpcPlanner
from services.abr.qoe import QoE

LADDER = (300, 750, 1200, 1850, 2850, 4300)
# Nominal 4-second chunks: bytes = kbps * 1000 / 8 * 4.
SIZES = np.outer(LADDER, np.ones(5)) * 500.0


@pytest.fixture
def planner():
    return MpcPlanner(QoE.linear(LADDER))


def test_collapsing_link_forces_down_switch(planner):
    plan = planner.plan(buffer_s=6.0, last_rung=5, sizes=SIZES, rates=np.array([60e3]), rtt_s=0.08)
    assert plan.rung < 5
    assert plan.reason == "rebuffer risk"


def test_full_buffer_allows_up_switch(planner):
    # 3 Mbit/s payload: rung 4 (2.85 Mbit/s) downloads in ~3.9 s, fine with 50 s buffered.
    plan = planner.plan(
        buffer_s=50.0, last_rung=2, sizes=SIZES, rates=np.array([375e3]), rtt_s=0.08
    )
    assert plan.rung > 2
    low = planner.plan(buffer_s=1.0, last_rung=2, sizes=SIZES, rates=np.array([375e3]), rtt_s=0.08)
    assert plan.rung >= low.rung


def test_cap_is_honoured_and_named(planner):
    plan = planner.plan(buffer_s=40.0, last_rung=2, sizes=SIZES, rates=np.array([5e6]), max_rung=2)
    assert plan.rung == 2
    assert plan.reason == "cap"
    assert max(plan.sequence) <= 2
    free = planner.plan(buffer_s=40.0, last_rung=2, sizes=SIZES, rates=np.array([5e6]))
    assert free.rung == 5 and free.reason == "max quality"


def test_switch_penalty_reason_means_smoothing_decided():
    planner = MpcPlanner(QoE.linear(LADDER))
    no_smooth = MpcPlanner(QoE("linear", np.asarray(LADDER) / 1000.0, 4.3, smooth_penalty=0.0))
    found = 0
    for rate in np.linspace(40e3, 700e3, 60):
        for last in (0, 5):
            kwargs = dict(buffer_s=8.0, last_rung=last, sizes=SIZES, rates=np.array([rate]))
            plan = planner.plan(**kwargs)
            if plan.reason == "switch penalty":
                found += 1
                assert no_smooth.plan(**kwargs).rung != plan.rung
    assert found > 0


def test_seek_restarts_low_and_says_seek():
    engine = AbrEngine(LADDER)
    engine.start_session("s", now=0.0)
    for i in range(8):  # a steady ~4.8 Mbit/s session playing at the top rung
        engine.observe_chunk("s", size_bytes=2.15e6, download_s=3.66, rtt_s=0.08, rung=5, now=i)
    steady = engine.select("s", buffer_s=30.0, sizes_ahead=SIZES, now=9.0)
    seek = engine.select("s", buffer_s=0.0, sizes_ahead=SIZES, now=10.0)
    assert seek.reason == "seek"
    assert seek.rung < steady.rung
    assert seek.rung <= 2
    fresh = AbrEngine(LADDER).select("new", buffer_s=0.0, sizes_ahead=SIZES, now=0.0)
    assert fresh.reason == "startup"


def test_predicted_download_time_matches_rate():
    planner = MpcPlanner(QoE.linear(LADDER))
    plan = planner.plan(buffer_s=20.0, last_rung=3, sizes=SIZES, rates=np.array([1e6]), rtt_s=0.1)
    assert plan.predicted_download_s == pytest.approx(SIZES[plan.rung, 0] / 1e6 + 0.1)


def test_qoe_variants_change_the_objective():
    log = MpcPlanner(QoE.log(LADDER))
    hd = MpcPlanner(QoE.hd(LADDER))
    assert log.qoe.rebuffer_penalty == 2.66 and hd.qoe.rebuffer_penalty == 8.0
    with pytest.raises(ValueError):
        QoE.named("nope", LADDER)
