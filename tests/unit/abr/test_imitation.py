"""Policy correction: the engine hook, both learning rules, the expert and the advantage fit."""

import numpy as np
import pytest

from bench.abr.expert import expert_rung
from bench.abr.optimal import TraceClock
from bench.abr.rollout import fit_advantages
from bench.abr.traces import LADDER_KBPS, Trace, Video
from services.abr.engine import AbrEngine
from services.abr.imitation import PolicyCorrection, action_features, feature_names

LADDER = (300, 750, 1200, 1850, 2850, 4300)
SIZES = np.outer(LADDER, np.ones(5)) * 500.0
N_FEATURES = len(feature_names(len(LADDER)))


def play(engine, n=12):
    engine.start_session("s", now=0.0)
    rungs = []
    for i in range(n):
        rate = 3e5 if i % 4 else 1.5e5
        engine.observe_chunk("s", size_bytes=6e5, download_s=6e5 / rate + 0.08, rtt_s=0.08, now=i)
        rungs.append(engine.select("s", buffer_s=8.0 + i, sizes_ahead=SIZES, now=i + 0.5))
    return rungs


def test_zero_correction_is_the_plain_planner():
    plain = [d.rung for d in play(AbrEngine(LADDER))]
    zero = [d.rung for d in play(AbrEngine(LADDER, correction=PolicyCorrection(N_FEATURES)))]
    assert plain == zero


def test_correction_can_overrule_the_planner_and_says_so():
    corr = PolicyCorrection(N_FEATURES)
    corr.weights[feature_names(len(LADDER)).index("r0_bias")] = 100.0
    decisions = play(AbrEngine(LADDER, correction=corr))
    assert all(d.rung == 0 for d in decisions)
    assert any(d.reason == "learned correction" for d in decisions)


def test_imitation_step_moves_toward_the_expert_and_never_to_a_ruled_out_rung():
    corr = PolicyCorrection(N_FEATURES, lr=0.1)
    x = action_features(
        6,
        buffer_s=10.0,
        last_rung=2,
        download_med_s=np.linspace(1, 8, 6),
        download_low_s=np.linspace(2, 16, 6),
        spread=0.8,
        chunks_seen=5,
    )
    scores = np.array([0.0, 0.5, 1.0, 0.9, 0.2, -np.inf])
    for _ in range(200):
        corr.learn_one(x, scores, expert=3)
    assert int(np.argmax(scores + corr.predict_one(x))) == 3
    corr.learn_one(x, scores, expert=5)  # a rung the player may not fetch teaches nothing
    assert np.isfinite(corr.weights).all()


def test_advantage_fit_recovers_a_linear_correction():
    rng = np.random.default_rng(3)
    truth = rng.normal(0, 0.3, N_FEATURES)
    data = []
    for _ in range(400):
        x = rng.normal(0, 1, (6, N_FEATURES))
        scores = rng.normal(0, 1, 6)
        taken = int(np.argmax(scores))
        value = scores + x @ truth  # the real advantage is the planner's gap plus x . truth
        data.append((x, scores, value - value[taken]))
    corr = PolicyCorrection(N_FEATURES)
    weights = fit_advantages(corr, data, ridge=1e-3, reach=5, clip=1e9)
    assert np.allclose(weights, truth, atol=1e-6)


def constant_trace(mbps):
    t = np.arange(0.0, 400.0, 1.0)
    return Trace("flat", t, np.full(len(t), mbps))


@pytest.mark.parametrize("mbps, low, high", [(0.25, 0, 0), (8.0, 5, 5)])
def test_expert_follows_the_known_future(mbps, low, high):
    sizes = np.outer(LADDER_KBPS, np.ones(49)) * 500.0
    video = Video(sizes, np.asarray(LADDER_KBPS, dtype=float))
    clock = TraceClock(constant_trace(mbps))
    rung = expert_rung(clock, video, time_s=10.0, buffer_ms=20_000.0, last_rung=2, chunk=30)
    assert low <= rung <= high
