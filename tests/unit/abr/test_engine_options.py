"""Engine options measured on the benchmark (off by default but the drop guard): regimes, windows,
guards, weights."""

import math

import numpy as np
import pytest

from services.abr.engine import AbrEngine
from services.abr.predictor import ThroughputPredictor
from services.abr.session import SessionState

LADDER = (300, 750, 1200, 1850, 2850, 4300)


def _feed(engine: AbrEngine, session: str, rates_bps: list[float]) -> None:
    engine.start_session(session, now=0.0)
    for i, r in enumerate(rates_bps):
        engine.observe_chunk(session, size_bytes=r / 8 * 2.0, download_s=2.08, rtt_s=0.08, now=i)


def _state(engine: AbrEngine, session: str) -> SessionState:
    state = engine.store.peek(session)
    assert state is not None
    return state


def test_level_weights_are_validated_and_used():
    with pytest.raises(ValueError):
        AbrEngine(LADDER, level_weights=(1.0, 1.0))
    # All the weight on the slowest scenario: a cautious decision where uniform weights dare more.
    plain = AbrEngine(LADDER)
    slow = AbrEngine(LADDER, level_weights=(1.0, 0.0, 0.0, 0.0, 0.0))
    history = (2e6 * np.exp(np.random.default_rng(0).normal(0, 0.5, 48))).tolist()
    for engine in (plain, slow):
        _feed(engine, "s", history)
    a = plain.select("s", buffer_s=2.0, now=99.0, last_rung=2)
    b = slow.select("s", buffer_s=2.0, now=99.0, last_rung=2)
    assert b.rung < a.rung


def test_drop_guard_centres_the_first_chunk_on_the_last_rate():
    guarded = AbrEngine(LADDER, drop_guard=0.6)
    _feed(guarded, "s", [3e6] * 30 + [0.6e6])
    rates = guarded.scenarios(_state(guarded, "s"), 10.0)
    assert rates.ndim == 2
    median_first = rates[2, 0] * 8  # the 0.5 level, bits/s
    assert median_first < 1.0e6 < rates[2, 1] * 8  # the first chunk at the last rate, not later
    steady = AbrEngine(LADDER, drop_guard=0.6)
    _feed(steady, "s", [3e6] * 31)
    assert steady.scenarios(_state(steady, "s"), 10.0).ndim == 1  # no drop: untouched


def test_the_drop_guard_is_on_by_default_and_can_be_turned_off():
    history = [3e6] * 30 + [0.6e6]
    default, off = AbrEngine(LADDER), AbrEngine(LADDER, drop_guard=0.0)
    for engine in (default, off):
        _feed(engine, "s", history)
    guarded = default.scenarios(_state(default, "s"), 10.0)
    plain = off.scenarios(_state(off, "s"), 10.0)
    assert default.drop_guard == 0.65 and guarded.ndim == 2 and plain.ndim == 1
    np.testing.assert_array_equal(guarded[:, 1], plain)  # later chunks: the forecast as before
    assert np.all(guarded[:, 0] < plain)  # the next chunk: around the rate that just dropped
    # After the drop the guarded engine is the more cautious one.
    a = default.select("s", buffer_s=6.0, now=99.0, last_rung=4)
    b = off.select("s", buffer_s=6.0, now=99.0, last_rung=4)
    assert a.rung <= b.rung


def test_regimes_route_sessions_to_their_own_model():
    engine = AbrEngine(LADDER, regime_edges=(0.2,), regime_min=20)
    rng = np.random.default_rng(2)
    _feed(engine, "calm", (2e6 * np.exp(rng.normal(0, 0.02, 60))).tolist())
    _feed(engine, "wild", (2e6 * np.exp(rng.normal(0, 0.8, 60))).tolist())
    calm, wild = engine.regime_models
    assert calm.n_learned > 0 and wild.n_learned > 0
    assert engine.predictor.n_learned == calm.n_learned + wild.n_learned
    assert engine._model(_state(engine, "calm")) is calm
    assert engine._model(_state(engine, "wild")) is wild
    # The calm regime's error quantiles are much narrower than the wild one's.
    spread = [np.ptp(m.error_quantiles()) for m in (calm, wild)]
    assert spread[0] < 0.5 * spread[1]


def test_quantile_window_forgets_old_errors():
    windowed = ThroughputPredictor(quantile_window=100)
    forever = ThroughputPredictor()
    x = {"hmean5": math.log(2e5), "bias": 1.0}
    rng = np.random.default_rng(1)
    for model in (windowed, forever):
        for i in range(600):
            noise = 1.0 if i < 300 else 0.05  # a volatile population, then a calm one
            model.learn_one(x, 2e5 * math.exp(rng.normal(0, noise)))
    calm = np.ptp(windowed.error_quantiles()[[2, -1]])
    mixed = np.ptp(forever.error_quantiles()[[2, -1]])
    assert calm < 0.5 * mixed


def test_a_snapshot_without_the_new_options_still_decides():
    engine = AbrEngine(LADDER)
    _feed(engine, "s", [2e6] * 10)
    expected = engine.select("s", buffer_s=8.0, now=50.0).rung
    # Strip the options added in this revision, as an older snapshot would lack them.
    for name in ("session_clip", "level_weights", "drop_guard", "regime_edges", "regime_models"):
        del engine.__dict__[name]
    for name in ("terminal_value", "reveal", "end_taper_s", "first_switch_extra"):
        del engine.planner.__dict__[name]
    restored = AbrEngine.restore(engine.snapshot())
    assert restored.select("s", buffer_s=8.0, now=50.0).rung == expected
