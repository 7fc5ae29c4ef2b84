"""The bench's HSDPA probes: neighbour-conditioned error quantiles, planner votes, shortfall table."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from bench.abr.probes import (
    AveragingPlanner,
    ConditionalEngine,
    RecordingPredictor,
    RiverBlrPredictor,
)
from bench.abr.report import shortfall_lines
from bench.abr.schemes import DEFAULT
from services.abr.planner import MpcPlanner
from services.abr.predictor import ThroughputPredictor, chunk_features
from services.abr.qoe import QoE

LADDER = (300, 750, 1200, 1850, 2850, 4300)


def _snapshot(rates: list[float]) -> dict[str, float]:
    return chunk_features([math.log(r) for r in rates], prior=math.log(2e5), buffer_s=10.0)


def test_recording_predictor_keeps_the_error_it_learned_from_and_wraps() -> None:
    p = RecordingPredictor(capacity=3)
    x = _snapshot([2e5] * 5)
    p.learn_one(x, 2e5)  # the first update has no prediction to score: nothing recorded
    assert p.recorded == 0
    for y in (3e5, 1e5, 2e5, 4e5):
        expected = math.log(y) - p.predict_log(x)
        p.learn_one(x, y)
        assert p.errors[(p.recorded - 1) % 3] == pytest.approx(expected)
    assert p.recorded == 4 and len(p.errors) == 3


def test_neighbour_quantiles_follow_the_nearby_snapshots() -> None:
    p = RecordingPredictor(capacity=1000)
    calm, jumpy = _snapshot([2e5] * 5), _snapshot([1e5, 4e5, 1e5, 4e5, 2e5])
    p.learn_one(calm, 2e5)
    rng = np.random.default_rng(0)
    for _ in range(200):
        # Calm sessions land close to the forecast; jumpy ones scatter widely around it.
        p.learn_one(calm, math.exp(p.predict_log(calm) + rng.normal(0, 0.02)))
        p.learn_one(jumpy, math.exp(p.predict_log(jumpy) + rng.normal(0, 0.8)))
    levels = (0.05, 0.95)
    assert p.neighbour_quantiles(calm, levels, k=1000) is None  # fewer than 2k recorded
    near_calm = p.neighbour_quantiles(calm, levels, k=100)
    near_jumpy = p.neighbour_quantiles(jumpy, levels, k=100)
    assert near_calm is not None and near_jumpy is not None
    assert np.ptp(near_calm) < 0.2 < 1.0 < np.ptp(near_jumpy)


def test_averaging_planner_takes_the_best_mean_value() -> None:
    qoe = QoE.linear(LADDER)
    sizes = np.outer(LADDER, np.ones(5)) * 500.0
    kwargs: dict[str, Any] = dict(
        buffer_s=8.0, last_rung=1, sizes=sizes, rates=np.array([1.2e5, 2.5e5, 4e5])
    )
    planners = [MpcPlanner(qoe), MpcPlanner(qoe, switch_weight=3.0, terminal_weight=1.0)]
    plans = [p.plan(**kwargs) for p in planners]
    voted = AveragingPlanner(planners).plan(**kwargs)
    mean = np.mean([p.scores for p in plans], axis=0)
    assert voted.rung == int(np.argmax(mean))
    alone = AveragingPlanner(planners[:1]).plan(**kwargs)
    assert alone == plans[0]
    with pytest.raises(ValueError):
        AveragingPlanner([])


def test_variants_build_the_probes_and_decide() -> None:
    conditional = replace(DEFAULT, conditional_k=50, conditional_blend=0.5).build(LADDER)
    assert isinstance(conditional, ConditionalEngine)
    assert isinstance(conditional.predictor, RecordingPredictor)
    assert (conditional.k, conditional.blend) == (50, 0.5)
    voting = replace(DEFAULT, vote=((0.8, 1.0), (1.2, 1.0))).build(LADDER)
    assert isinstance(voting.planner, AveragingPlanner)
    weights = [p.terminal_weight for p in voting.planner.planners]
    assert weights == pytest.approx([0.24, 0.36])
    for engine in (conditional, voting):
        engine.start_session("s", now=0.0)
        for i in range(30):
            engine.observe_chunk("s", size_bytes=9e5, download_s=1.5 + (i % 3), now=float(i))
        assert 0 <= engine.select("s", buffer_s=12.0, now=31.0).rung < len(LADDER)


def test_shortfall_lists_the_worst_traces_first() -> None:
    per = {
        "set": {
            "service": [50.0, -10.0, 40.0],
            "optimal": [55.0, 60.0, 70.0],
            "robust_mpc": [45.0, -40.0, 41.0],
        }
    }
    lines = shortfall_lines(per, {"set": ["a", "b", "c"]}, k=2)
    assert [line.split(" | ")[1] for line in lines[2:4]] == ["b", "c"]
    assert lines[2].endswith("| -10.00 | 60.00 | -40.00 | - | 70.00 |")
    assert (
        lines[-1] == "Without its worst trace the service mean of set is 45.00 (all traces: 26.67)."
    )
    assert shortfall_lines({"set": {"service": [1.0]}}, {"set": ["a"]}) == []


def test_latency_fields_put_the_grpc_headline_first():
    from bench.abr.report import latency_fields

    grpc: dict[str, Any] = {
        "rate": 1000.0,
        "sessions": 200,
        "headline": "stream/realtime",
        "decision_p99_ms": 2.6,
        "runs": {"stream/normal": {"p99_ms": 9.4}, "stream/realtime": {"p99_ms": 2.6}},
    }
    fields, line = latency_fields(0.159, grpc)
    assert fields["decision_p99_ms"] == 2.6
    assert fields["decision_p99_via"] == "gRPC stream, realtime CPU priority, 1000 decisions/s"
    assert fields["decision_p99_ms_stream_normal"] == 9.4
    assert fields["decision_p99_in_process_ms"] == 0.159
    assert "target <= 3 ms: met" in line and "9.4 ms for stream at normal priority" in line
    assert "stolen" not in line  # runs from before the steal was measured
    grpc["decision_p99_ms"] = 3.2
    assert "NOT met" in latency_fields(0.159, grpc)[1]
    grpc["runs"]["stream/realtime"]["host_stolen_share"] = 0.083
    fields, line = latency_fields(0.159, grpc)
    assert fields["decision_host_stolen_share"] == 0.083
    assert "8.3% of the machine's CPU time stolen by the host" in line


def test_host_cpu_ticks_count_the_stolen_share_of_a_moving_total() -> None:
    from bench.loadgen import host_cpu_ticks

    steal0, total0 = host_cpu_ticks()
    time.sleep(0.1)  # ticks of both CPUs pass, busy or idle
    steal1, total1 = host_cpu_ticks()
    assert 0 <= steal0 <= total0 and 0 <= steal1 <= total1
    assert total1 > total0 and steal1 >= steal0


def test_river_blr_is_the_same_estimator_as_the_rls() -> None:
    # A drifting session mix: both models see the same stream and must forecast alike.
    rng = np.random.default_rng(3)
    rls, blr = ThroughputPredictor(), RiverBlrPredictor()
    history = [2e5] * 5
    gaps = []
    for i in range(1500):
        level = 2e5 * (1.0 + 0.8 * math.sin(i / 200))
        y = level * float(np.exp(rng.normal(0.0, 0.3)))
        x = chunk_features([math.log(r) for r in history[-16:]], prior=math.log(2e5), buffer_s=10.0)
        gaps.append(abs(rls.predict_log(x) - blr.predict_log(x)))
        rls.learn_one(x, y)
        blr.learn_one(x, y)
        history.append(y)
    assert blr.blr.predict_one({"bias": 1.0}) != 0.0  # River's model is the one learning
    # Rounding apart (another forgetting, 0.99, differs by 0.02 on average here).
    assert float(np.max(gaps)) < 1e-6
