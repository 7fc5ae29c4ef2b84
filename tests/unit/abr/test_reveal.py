"""Partial reveal: the first chunk as a noisy look at the scenario, in the kernel, planner, engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.abr.engine import AbrEngine
from services.abr.mpc_kernel import RevealTerms, partial_reveal, partial_reveal_numpy
from services.abr.planner import MpcPlanner, Plan
from services.abr.qoe import QoE
from services.abr.session import SessionState

LADDER = (300, 750, 1200, 1850, 2850, 4300)
SIZES = np.outer(LADDER, np.ones(5)) * 500.0  # nominal 4 s chunks, bytes
SCENARIOS = np.array([60e3, 110e3, 170e3, 240e3, 330e3])  # payload bytes/s


@pytest.mark.parametrize("with_kept", [True, False])
@pytest.mark.parametrize("capped", [True, False])
def test_kernel_matches_the_numpy_reference(with_kept: bool, capped: bool) -> None:
    rng = np.random.default_rng(3 + 2 * with_kept + capped)
    for sd in (1e-3, 0.05, 0.3, 1.0, 5.0):
        fixed = rng.uniform(0.0, 20.0, 216)
        rebuf = rng.exponential(1.0, (5, 216)).astype(np.float32)
        kept = rng.uniform(0.0, 20.0, (5, 216)).astype(np.float32) if with_kept else None
        allowed = np.arange(216) % 6 <= 3 if capped else np.ones(216, bool)
        logs = np.sort(rng.normal(12.0, 0.5, 5))
        w = rng.dirichlet(np.ones(5))
        terms = RevealTerms(fixed, rebuf, 4.3, 0.3, kept, allowed, logs, w, sd, 6)
        np.testing.assert_allclose(partial_reveal(terms), partial_reveal_numpy(terms), rtol=1e-9)


def _plan(
    planner: MpcPlanner,
    buffer_s: float = 8.0,
    adaptive: float | None = 1.0,
    reveal_sd: float | None = None,
) -> Plan:
    return planner.plan(
        buffer_s=buffer_s,
        last_rung=2,
        sizes=SIZES,
        rates=SCENARIOS,
        adaptive=adaptive,
        reveal_sd=reveal_sd,
    )


@pytest.mark.parametrize("buffer_s", [2.0, 8.0, 20.0])
def test_limits_are_the_exact_reveal_and_the_open_loop_plan(buffer_s: float) -> None:
    planner = MpcPlanner(QoE.linear(LADDER))
    exact = _plan(planner, buffer_s)
    sharp = _plan(planner, buffer_s, reveal_sd=1e-4)
    np.testing.assert_allclose(sharp.scores, exact.scores, rtol=1e-5)
    assert sharp.rung == exact.rung
    opened = _plan(planner, buffer_s, adaptive=None)
    blind = _plan(planner, buffer_s, reveal_sd=1e4)
    np.testing.assert_allclose(blind.scores, opened.scores, rtol=1e-5)
    assert blind.rung == opened.rung


def test_knowing_more_is_worth_more() -> None:
    # The value of being able to adapt grows as the look gets sharper, and never exceeds the
    # exact reveal's or falls below the committed plan's.
    planner = MpcPlanner(QoE.linear(LADDER))
    values = [max(_plan(planner, reveal_sd=sd).scores) for sd in (3.0, 1.0, 0.3, 0.1)]
    exact = max(_plan(planner).scores)
    committed = max(_plan(planner, adaptive=None).scores)
    assert committed - 1e-4 <= values[0] <= values[1] <= values[2] <= values[3] <= exact + 1e-4
    assert values[3] > values[0]


def test_a_cap_rules_sequences_out_under_partial_reveal() -> None:
    planner = MpcPlanner(QoE.linear(LADDER))
    plan = planner.plan(
        buffer_s=30.0,
        last_rung=2,
        sizes=SIZES,
        rates=SCENARIOS * 10,
        adaptive=1.0,
        reveal_sd=0.3,
        max_rung=3,
    )
    assert plan.rung == 3 and plan.reason == "cap"
    assert all(math.isinf(v) for v in plan.scores[4:]) and max(plan.sequence) <= 3


def test_session_noise_shrinks_from_the_population_to_the_session() -> None:
    engine = AbrEngine(LADDER, reveal_noise=2.0, reveal_prior=4.0)
    calm, wild = SessionState("calm"), SessionState("wild")
    assert engine.reveal_sd(calm) == pytest.approx(2.0 * math.sqrt(engine.step_var))
    calm.log_rates.extend([12.0] * 16)
    wild.log_rates.extend([12.0, 13.0] * 8)
    # 15 flat steps against 4 prior ones: 4/19 of the population's variance is left.
    assert engine.reveal_sd(calm) == pytest.approx(2.0 * math.sqrt(4 * engine.step_var / 19))
    assert engine.reveal_sd(wild) == pytest.approx(2.0 * math.sqrt((15 + 4 * engine.step_var) / 19))


def test_population_step_variance_is_learned_from_chunk_events() -> None:
    engine = AbrEngine(LADDER)
    engine.start_session("s", now=0.0)
    for i in range(200):  # the payload rate alternates x1 / x2: steps of +-log 2
        size = 375e3 * (2.0 if i % 2 else 1.0)
        engine.observe_chunk("s", size_bytes=size, download_s=2.08, rtt_s=0.08, now=float(i))
    assert engine.step_n == 199
    assert engine.step_var == pytest.approx(math.log(2.0) ** 2, rel=1e-6)


def test_engine_plans_with_the_sessions_noise_and_can_be_switched_off() -> None:
    seen: list[tuple[object, object]] = []
    for noise in (2.0, 0.0):
        engine = AbrEngine(LADDER, reveal_noise=noise)
        original = engine.planner.plan

        def spy(original=original, **kwargs):
            seen.append((kwargs["adaptive"], kwargs["reveal_sd"]))
            return original(**kwargs)

        engine.planner.plan = spy  # type: ignore[method-assign]
        engine.start_session("s", now=0.0)
        engine.observe_chunk("s", size_bytes=375e3, download_s=2.0, now=0.5)
        engine.select("s", buffer_s=4.0, sizes_ahead=SIZES, now=1.0)
    (adaptive, sd), off = seen
    assert adaptive == 1.0 and sd == pytest.approx(2.0 * math.sqrt(0.1))
    assert off == (None, None)
