"""Switch weights, scenario tilts and the startup hook of the planner and the engine."""

import numpy as np
import pytest

from services.abr.engine import AbrEngine
from services.abr.planner import MpcPlanner
from services.abr.qoe import QoE

LADDER = (300, 750, 1200, 1850, 2850, 4300)
SIZES = np.outer(LADDER, np.ones(5)) * 500.0  # nominal 4 s chunks, bytes
RATES = np.geomspace(40e3, 900e3, 40)  # payload bytes/s, 0.3 to 7 Mbit/s


def _rungs(planner: MpcPlanner, last: int, buffer_s: float) -> np.ndarray:
    return np.array(
        [
            planner.plan(buffer_s=buffer_s, last_rung=last, sizes=SIZES, rates=np.array([r])).rung
            for r in RATES
        ]
    )


@pytest.mark.parametrize("last", [0, 2, 5])
def test_heavier_switch_weight_moves_less_and_sometimes_stays(last):
    plain = MpcPlanner(QoE.linear(LADDER), switch_weight=1.0)
    heavy = MpcPlanner(QoE.linear(LADDER), switch_weight=3.0)
    moved = np.abs(_rungs(plain, last, 12.0) - last)
    held = np.abs(_rungs(heavy, last, 12.0) - last)
    assert (held <= moved).all()
    assert (held < moved).any()


def test_up_switch_weight_holds_back_up_switches_only():
    sym = MpcPlanner(QoE.linear(LADDER), switch_weight=1.0)
    up = MpcPlanner(QoE.linear(LADDER), switch_weight=1.0, up_switch_weight=4.0)
    # From the bottom every switch is up: the heavier up-weight climbs less, somewhere.
    low_sym, low_up = _rungs(sym, 0, 12.0), _rungs(up, 0, 12.0)
    assert (low_up <= low_sym).all() and (low_up < low_sym).any()
    # From the top every switch is down: decisions are exactly the symmetric planner's.
    assert (_rungs(up, 5, 12.0) == _rungs(sym, 5, 12.0)).all()


def test_plan_level_adaptive_override_equals_a_planner_built_with_it():
    open_loop = MpcPlanner(QoE.linear(LADDER))
    closed = MpcPlanner(QoE.linear(LADDER), adaptive=1.0)
    rates = np.array([5e4, 1.5e5, 3e5, 6e5])
    differs = 0
    for buffer_s in (2.0, 8.0, 20.0):
        for last in range(6):
            a = open_loop.plan(
                buffer_s=buffer_s, last_rung=last, sizes=SIZES, rates=rates, adaptive=1.0
            )
            b = closed.plan(buffer_s=buffer_s, last_rung=last, sizes=SIZES, rates=rates)
            assert a.rung == b.rung and a.value == b.value
            plain = open_loop.plan(buffer_s=buffer_s, last_rung=last, sizes=SIZES, rates=rates)
            differs += plain.rung != b.rung
    assert differs  # the override is not a no-op


def test_scenario_tilt_leans_on_slow_scenarios_when_the_buffer_is_low():
    engine = AbrEngine(LADDER, risk=(0.8, -0.4), risk_buffer_s=20.0)
    rates = np.array([1e5, 2e5, 3e5, 5e5, 8e5])
    empty, half, full = (engine.scenario_weights(rates, b) for b in (0.0, 10.0, 40.0))
    assert empty is not None and full is not None
    assert empty.sum() == pytest.approx(1.0) and full.sum() == pytest.approx(1.0)
    assert np.all(np.diff(empty) < 0)  # more weight on slower scenarios
    assert np.all(np.diff(full) > 0)  # lambda < 0 at a full buffer: the fast ones
    # Half-way lambda is 0.2: still leaning low, less than on an empty buffer.
    assert half is not None and empty[0] > half[0] > 1 / 5
    assert AbrEngine(LADDER).scenario_weights(rates, 0.0) is None  # off by default


def _steady_engine(**kwargs) -> AbrEngine:
    engine = AbrEngine(LADDER, **kwargs)
    engine.start_session("s", now=0.0)
    rng = np.random.default_rng(3)
    for i in range(40):  # ~2 Mbit/s with noise, so the error quantiles are spread
        size = 925e3
        rate = 250e3 * float(np.exp(rng.normal(0.0, 0.3)))
        engine.observe_chunk("s", size_bytes=size, download_s=size / rate + 0.08, now=float(i))
    return engine


def test_risk_averse_tilt_picks_lower_on_a_short_buffer():
    # Above ~20 s the terminal buffer cap makes choices non-monotone, so compare short buffers.
    neutral, averse = _steady_engine(), _steady_engine(risk=(1.5, 1.5))
    picks = []
    for buffer_s in np.linspace(1.0, 15.0, 15):
        a = neutral.select("s", buffer_s=buffer_s, sizes_ahead=SIZES, now=50.0, last_rung=2).rung
        b = averse.select("s", buffer_s=buffer_s, sizes_ahead=SIZES, now=50.0, last_rung=2).rung
        picks.append((a, b))
    assert all(b <= a for a, b in picks)
    assert any(b < a for a, b in picks)


def test_startup_hook_applies_to_young_sessions_only():
    engine = AbrEngine(LADDER, startup=(3, 1.0))
    seen = []
    original = engine.planner.plan

    def spy(**kwargs):
        seen.append(kwargs["adaptive"])
        return original(**kwargs)

    engine.planner.plan = spy  # type: ignore[method-assign]
    engine.start_session("s", now=0.0)
    for i in range(6):
        engine.select("s", buffer_s=4.0 + i, sizes_ahead=SIZES, now=float(i))
        engine.observe_chunk("s", size_bytes=375e3, download_s=2.0, now=float(i) + 0.5)
    assert seen == [1.0, 1.0, 1.0, 1.0, None, None]
