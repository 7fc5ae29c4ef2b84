"""Learned terminal value: the table, its use by the planner, and its fit from rollout forks."""

from typing import Any

import numpy as np
import pytest

from bench.abr.terminal import Fork, fit
from services.abr.planner import MpcPlanner
from services.abr.qoe import QoE
from services.abr.terminal import TerminalValue

LADDER = (300, 750, 1200, 1850, 2850, 4300)
SIZES = np.outer(LADDER, np.ones(5)) * 500.0
KNOTS = (0.0, 5.0, 10.0, 20.0, 40.0)


def hand_made(bands: int = 2) -> TerminalValue:
    """The planner's default buffer value (0.3/s up to 20 s, no rung term) as a table."""
    values = [[0.3 * min(k, 20.0) for k in KNOTS]] * bands
    return TerminalValue((1.0,) * (bands - 1), KNOTS, values, [[0.0] * 6] * bands)


def test_table_of_the_hand_made_value_plans_the_same():
    rng = np.random.default_rng(3)
    base = MpcPlanner(QoE.linear(LADDER))
    tabled = MpcPlanner(QoE.linear(LADDER), terminal_value=hand_made())
    for _ in range(200):
        rates = np.exp(rng.normal(np.log(2e5), 0.6, size=5))
        kwargs: dict[str, Any] = dict(
            buffer_s=float(rng.uniform(0, 40)),
            last_rung=int(rng.integers(6)),
            sizes=SIZES,
            rates=rates,
            rtt_s=0.08,
        )
        a, b = base.plan(**kwargs), tabled.plan(**kwargs)
        # Same per-rung values up to float32 rounding (exact ties may then break either way).
        assert np.allclose(a.scores, b.scores, rtol=1e-5, atol=1e-4)
        assert b.scores[a.rung] == pytest.approx(max(b.scores), abs=1e-4)


def test_rung_value_steers_the_end_of_the_plan():
    # A large value on ending at rung 0 in the slow band pulls a slow link's plan down.
    table = hand_made()
    rung_values = np.zeros((2, 6))
    rung_values[0, 0] = 50.0
    pulled = TerminalValue(table.rate_edges_mbps, KNOTS, table.buffer_values, rung_values)
    planner = MpcPlanner(QoE.linear(LADDER), terminal_value=pulled)
    plain = MpcPlanner(QoE.linear(LADDER), terminal_value=table)
    kwargs: dict[str, Any] = dict(
        buffer_s=30.0, last_rung=3, sizes=SIZES, rates=np.array([0.5e6 / 8]), rtt_s=0.08
    )
    assert plain.plan(**kwargs).sequence[-1] > 0
    assert planner.plan(**kwargs).sequence[-1] == 0
    fast: dict[str, Any] = dict(
        kwargs, rates=np.array([3e6 / 8])
    )  # fast band: rung 0 not favoured there
    assert planner.plan(**fast).sequence[-1] == plain.plan(**fast).sequence[-1]


def test_save_and_load_round_trip(tmp_path):
    table = hand_made(3)
    table.save(tmp_path / "tv.json")
    again = TerminalValue.load(tmp_path / "tv.json")
    assert np.array_equal(again.buffer_values, table.buffer_values)
    assert again.band(2e6 / 8) == table.band(2e6 / 8) == 2


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        TerminalValue((1.0,), KNOTS, [[0.0] * 5], [[0.0] * 6] * 2)
    with pytest.raises(ValueError):
        TerminalValue((), (0.0, 5.0, 5.0), [[0.0] * 3], [[0.0] * 6])


def test_fit_recovers_a_known_value_from_forks():
    # Forks whose returns are state effect + 0.5/s of buffer up to 10 s (band 0) or 0.1/s
    # (band 1) + a rung bonus: the fit must find those slopes, not the 0.3/s prior.
    rng = np.random.default_rng(0)
    forks = []
    for state in range(300):
        band = state % 2
        slope = 0.5 if band == 0 else 0.1
        base = rng.normal(0, 10)
        for b in KNOTS:
            ret = base + slope * min(b, 10.0) + rng.normal(0, 0.1)
            forks.append(Fork(state, 0, band, b, 2, ret))
        for r in range(6):
            forks.append(Fork(state, 0, band, 6.0, r, base + slope * 6.0 + (r == 2) * 1.0))
    table = fit(forks, 6, knots=KNOTS, edges=(1.0,), ridge=1.0, clip=100.0)
    assert table.buffer_values[0, 2] == pytest.approx(5.0, abs=0.2)
    assert table.buffer_values[1, 2] == pytest.approx(1.0, abs=0.2)
    assert table.buffer_values[0, 4] - table.buffer_values[0, 2] == pytest.approx(0.0, abs=0.2)
    assert np.argmax(table.rung_values[0]) == 2


def test_end_taper_spends_the_buffer_near_the_end():
    # 30 s buffered, 1.5 Mbit/s: a plan that drains the buffer on rung 3 loses terminal value
    # unless the video is about to end, where the taper makes that buffer worthless.
    planner = MpcPlanner(QoE.linear(LADDER), end_taper_s=2.0)
    kwargs: dict[str, Any] = dict(
        buffer_s=22.0, last_rung=2, sizes=SIZES, rates=np.array([1.5e6 / 8]), rtt_s=0.08
    )
    far = planner.plan(**kwargs, chunks_after=30)
    near = planner.plan(**kwargs, chunks_after=1)
    assert sum(near.sequence) >= sum(far.sequence)
    assert near.value < far.value  # the same buffer is worth less with little video left
    assert planner.plan(**kwargs).value == far.value  # unknown length: no taper


def test_scenario_tree_between_open_and_closed_loop():
    # 2 Mbit/s median with a wide spread, 12 s buffered: open loop holds rung 1 against the
    # slow scenarios, the full closed loop (the plan may adapt once the first chunk reveals
    # the scenario) dares rung 3; a tree that tells the slow pair apart answers in between.
    rates = 2e6 * np.array([0.3, 0.6, 1.0, 1.5, 2.5]) / 8
    kwargs: dict[str, Any] = dict(
        buffer_s=12.0, last_rung=3, sizes=SIZES, rates=rates, rtt_s=0.08, adaptive=1.0
    )
    qoe = QoE.linear(LADDER)
    closed = MpcPlanner(qoe).plan(**kwargs)
    opened = MpcPlanner(qoe).plan(**dict(kwargs, adaptive=0.0))
    assert (opened.rung, closed.rung) == (1, 3)
    singles = MpcPlanner(qoe, reveal=tuple((i,) for i in range(5))).plan(**kwargs)
    assert singles.rung == closed.rung  # singleton groups are the full closed loop
    one = MpcPlanner(qoe, reveal=((0, 1, 2, 3, 4),)).plan(**kwargs)
    assert one.rung == opened.rung  # a single group reveals nothing: open loop
    tree = MpcPlanner(qoe, reveal=((0, 1), (2,), (3, 4))).plan(**kwargs)
    assert opened.rung <= tree.rung <= closed.rung


def test_discount_one_is_the_plain_planner_and_discount_changes_plans():
    rng = np.random.default_rng(5)
    plain = MpcPlanner(QoE.linear(LADDER))
    same = MpcPlanner(QoE.linear(LADDER), discount=1.0)
    heavy = MpcPlanner(QoE.linear(LADDER), discount=0.5)
    changed = 0
    for _ in range(100):
        kwargs: dict[str, Any] = dict(
            buffer_s=float(rng.uniform(0, 30)),
            last_rung=int(rng.integers(6)),
            sizes=SIZES,
            rates=np.exp(rng.normal(np.log(2e5), 0.6, size=5)),
            rtt_s=0.08,
        )
        a = plain.plan(**kwargs)
        assert same.plan(**kwargs).scores == a.scores
        changed += heavy.plan(**kwargs).rung != a.rung
    assert changed > 0
