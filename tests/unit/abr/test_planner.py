"""Hand-made planner cases: down-switch, up-switch, seek, cap and the reason strings."""

from typing import Any

import numpy as np
import pytest

from services.abr import mpc_kernel
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
            rates = np.array([rate])
            plan = planner.plan(buffer_s=8.0, last_rung=last, sizes=SIZES, rates=rates)
            if plan.reason == "switch penalty":
                found += 1
                other = no_smooth.plan(buffer_s=8.0, last_rung=last, sizes=SIZES, rates=rates)
                assert other.rung != plan.rung
    assert found > 0


def test_seek_restarts_low_and_says_seek():
    engine = AbrEngine(LADDER)
    engine.start_session("s", now=0.0)
    for i in range(8):  # a steady ~2.5 Mbit/s session playing rung 3
        engine.observe_chunk("s", size_bytes=925e3, download_s=3.06, rtt_s=0.08, rung=3, now=i)
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


def test_rebuffer_weight_makes_the_plan_more_cautious():
    # 2 s buffered on a link whose scenarios straddle rungs 1-3: charging stalls more steps down.
    rates = np.array([1.5e5, 2.3e5, 3.0e5])
    rungs = [
        MpcPlanner(QoE.linear(LADDER), rebuffer_weight=w)
        .plan(buffer_s=2.0, last_rung=3, sizes=SIZES, rates=rates)
        .rung
        for w in (1.0, 1.5, 3.0)
    ]
    assert rungs == sorted(rungs, reverse=True)
    assert rungs[-1] < rungs[0]


def test_qoe_variants_change_the_objective():
    log = MpcPlanner(QoE.log(LADDER))
    hd = MpcPlanner(QoE.hd(LADDER))
    assert log.qoe.rebuffer_penalty == 2.66 and hd.qoe.rebuffer_penalty == 8.0
    with pytest.raises(ValueError):
        QoE.named("nope", LADDER)


def brute_force(planner, buffer_s, last, sizes, rates, weights, rtt, blocks):
    """Plain-Python scoring of every move sequence: the reference the vectorised planner must match."""
    import itertools

    u, q = planner.qoe.utility, planner.qoe
    best: tuple[float, tuple[int, ...]] = (-np.inf, ())
    for moves in itertools.product(range(len(u)), repeat=len(blocks)):
        seq = [m for m, n in zip(moves, blocks, strict=True) for _ in range(n)]
        value, prev = 0.0, last
        for rung in seq:
            value += u[rung] - q.smooth_penalty * planner.switch_weight * abs(u[rung] - u[prev])
            prev = rung
        for rate, w in zip(rates, weights, strict=True):
            b = buffer_s
            for t, rung in enumerate(seq):
                d = sizes[rung, t] / rate + rtt
                value -= w * q.rebuffer_penalty * planner.rebuffer_weight * max(d - b, 0.0)
                b = min(max(b - d, 0.0) + planner.chunk_s, planner.buffer_cap_s)
            value += w * planner.terminal_weight * min(b, planner.terminal_buffer_s)
        if value > best[0] + 1e-9:
            best = (value, moves)
    return best


@pytest.mark.parametrize(
    ("blocks", "rebuffer_weight"),
    [((1, 1, 1), 1.0), ((1, 2, 1), 1.0), ((2, 2), 1.0), ((1, 1, 1), 1.4)],
)
def test_vectorised_plan_matches_brute_force(blocks, rebuffer_weight):
    rng = np.random.default_rng(11)
    planner = MpcPlanner(
        QoE.linear(LADDER), blocks=blocks, terminal_weight=0.3, rebuffer_weight=rebuffer_weight
    )
    for _ in range(6):
        sizes = SIZES[:, :4] * rng.uniform(0.7, 1.3, (6, 4))
        rates = rng.uniform(5e4, 8e5, 3)
        weights = np.array([0.2, 0.5, 0.3])
        buffer_s, last = float(rng.uniform(0, 30)), int(rng.integers(6))
        plan = planner.plan(
            buffer_s=buffer_s, last_rung=last, sizes=sizes, rates=rates, weights=weights, rtt_s=0.08
        )
        value, moves = brute_force(planner, buffer_s, last, sizes, rates, weights, 0.08, blocks)
        assert plan.value == pytest.approx(value, rel=1e-4, abs=1e-3)
        assert plan.sequence == moves


@pytest.mark.parametrize("end_taper_s", [0.0, 2.0])
def test_one_pass_plans_equal_the_array_expressions(monkeypatch, end_taper_s):
    # The service's planner scores in one compiled pass; the array expressions are the reference.
    rng = np.random.default_rng(5)
    planner = MpcPlanner(QoE.linear(LADDER), end_taper_s=end_taper_s)
    cases: list[dict[str, Any]] = []
    for _ in range(300):
        length = int(rng.integers(1, 6))
        n = int(rng.integers(1, 7))
        rates = rng.lognormal(np.log(3e5), 1.0, n)
        if rng.random() < 0.5:  # per-chunk scenarios (the next-chunk model's first column)
            rates = np.repeat(rates[:, None], 5, axis=1) * rng.uniform(0.5, 1.5, (n, 5))
        cases.append(
            dict(
                buffer_s=float(rng.choice([0.0, rng.uniform(0, 60)])),
                last_rung=int(rng.integers(6)),
                sizes=SIZES[:, :length] * rng.uniform(0.7, 1.3, (6, length)),
                rates=rates,
                weights=None if rng.random() < 0.5 else rng.uniform(0.1, 1.0, n),
                rtt_s=0.08,
                max_rung=None if rng.random() < 0.6 else int(rng.integers(6)),
                video_continues=bool(rng.random() < 0.8),
                chunks_after=None if rng.random() < 0.5 else int(rng.integers(10)),
            )
        )
    scored = []
    real_score = mpc_kernel.score

    def counted(*args: Any) -> mpc_kernel.Scores:
        scored.append(args)
        return real_score(*args)

    monkeypatch.setattr(mpc_kernel, "score", counted)
    one_pass = [planner.plan(**case) for case in cases]
    assert len(scored) == len(cases)  # every one of them took the one-pass path
    monkeypatch.setattr(planner, "_scored_in_one_pass", lambda *args: False)
    reference = [planner.plan(**case) for case in cases]
    assert one_pass == reference  # rung, prediction, reason, value, sequence, scores: bitwise
    assert len({p.reason for p in one_pass}) >= 5
