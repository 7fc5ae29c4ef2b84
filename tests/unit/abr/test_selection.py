"""The ABR configuration choice: warm-up orders, paired scores, and bench/service parity."""

import numpy as np
import pytest

from bench.abr.schemes import ABLATION, DEFAULT
from bench.abr.selection import (
    Job,
    heldout_section,
    main,
    order_spread,
    orders,
    paired,
    route,
    run,
    run_with_tests,
)
from bench.abr.traces import Trace, Video
from services.abr.learner import AbrState

LADDER = (300, 750, 1200, 1850, 2850, 4300)


def _trace(name: str, mbps: float = 2.0) -> Trace:
    return Trace(name, np.arange(0.0, 400.0, 1.0), np.full(400, mbps))


def test_orders_keep_routes_together_and_cover_every_trace_once():
    names = [
        *(f"bus.a-b-report.2010-0{i}.log" for i in range(1, 4)),
        *(f"tram.c-d-report.2010-0{i}.log" for i in range(1, 3)),
        "trace_1_http---x.com",
        "trace_2_http---y.com",
    ]
    traces = [_trace(n) for n in reversed(names)]  # input order does not matter
    out = orders(traces, seeds=[0, 1, 2])
    assert len(out) == 5
    assert [t.name for t in out[0]] == sorted(names)
    assert [t.name for t in out[1]] == sorted(names)[::-1]
    for order in out[2:]:
        got = [t.name for t in order]
        assert sorted(got) == sorted(names)  # a permutation of all traces
        blocks = [route(n) for n in got]
        # each route is one contiguous run, in name order inside
        runs = [b for i, b in enumerate(blocks) if i == 0 or blocks[i - 1] != b]
        assert len(runs) == len(set(blocks))
        for b in set(blocks):
            inside = [n for n in got if route(n) == b]
            assert inside == sorted(inside)
    assert len({tuple(t.name for t in o) for o in out[2:]}) > 1  # the seeds differ
    assert len(orders(traces, seeds=[4], plain=False)) == 1


def test_paired_difference_and_its_standard_error():
    diff, se = paired(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 2.0, 2.0]))
    assert diff == pytest.approx(1.0) and se == pytest.approx(np.std([0, 1, 1, 2], ddof=1) / 2)


def test_run_is_deterministic_and_sees_the_jitter():
    sizes = np.outer(np.array(LADDER) * 500.0, np.ones(13))  # 4 s chunks, one look-ahead line
    video = Video(sizes, np.array(LADDER, float), n_chunks=12)
    order = (_trace("a", 1.0), _trace("b", 3.0))
    first = run(Job(DEFAULT, order, 1.0, video))
    assert first == run(Job(DEFAULT, order, 1.0, video))
    assert np.isfinite(first)


def test_cli_rejects_unknown_rows_and_bad_numbers(capsys):
    with pytest.raises(SystemExit):
        main(["--rows", "no such row"])
    assert "unknown rows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--rows", "no drop guard", "--jitters", "0,x"])
    assert "--jitters" in capsys.readouterr().err


def test_the_bench_default_is_the_service_configuration():
    # The benchmark scores DEFAULT; the service builds its engine from the engine and planner
    # defaults and its own two models. Both must decide alike, progress tail included.
    service = AbrState(LADDER).engine(LADDER, "linear")
    bench = DEFAULT.build(LADDER)
    rng = np.random.default_rng(3)
    rates = [*(2e6 * np.exp(rng.normal(0, 0.4, 40))), 0.4e6]  # ends with a sharp drop
    tails = [*rates[1:], 0.3e6]  # the player's measurement of each transfer's end
    for engine in (service, bench):
        engine.start_session("s", now=0.0)
        for i, (r, tail) in enumerate(zip(rates, tails, strict=True)):
            engine.observe_chunk(
                "s",
                size_bytes=r / 8 * 4,
                download_s=4.08,
                rtt_s=0.08,
                now=i,
                tail_bytes=tail / 8 * 0.5,
                tail_s=0.5,
            )
    for buffer_s in (0.0, 3.0, 9.0, 20.0):
        a = service.select("s", buffer_s=buffer_s, now=50.0, last_rung=3)
        b = bench.select("s", buffer_s=buffer_s, now=50.0, last_rung=3)
        assert (a.rung, a.reason) == (b.rung, b.reason)
        assert a.predicted_download_s == pytest.approx(b.predicted_download_s)
    assert "no drop guard" in {v.label for v in ABLATION}


def test_jitters_of_one_order_count_once_in_the_standard_error():
    # Two orders, two near-identical jitters each: the error is that of two differences, not four.
    scores = np.array([2.0, 2.01, 4.0, 4.01])
    base = np.ones(4)
    diff, se = paired(scores, base, per_order=2)
    assert diff == pytest.approx(2.005)
    assert se == pytest.approx(1.0)
    assert paired(scores, base)[1] < se  # run by run it would look twice as sure
    with pytest.raises(ValueError, match="same number of runs"):
        paired(scores[:3], base[:3], per_order=2)


def test_test_sets_are_played_after_the_warm_up_by_the_same_learning_engine():
    sizes = np.outer(np.array(LADDER) * 500.0, np.ones(13))
    video = Video(sizes, np.array(LADDER, float), n_chunks=12)
    order = (_trace("a", 1.0), _trace("b", 3.0))
    fast, slow = (_trace("fast", 6.0),), (_trace("slow", 0.5),)
    train, on_fast, on_slow = run_with_tests(Job(DEFAULT, order, 1.0, video, (fast, slow)))
    assert train == run(Job(DEFAULT, order, 1.0, video))  # the tests do not change the score
    assert on_fast > train > on_slow  # each set is really played
    # The engine carries what it learned: the same set after a different warm-up scores apart.
    cold = run_with_tests(Job(DEFAULT, (_trace("c", 0.4),), 1.0, video, (fast,)))[1]
    assert cold != on_fast


def test_order_spread_and_its_report_section():
    spread = order_spread(np.array([45.0, 45.2, 46.0, 46.2, 45.5, 45.7]), per_order=2)
    assert spread["orders"] == [45.1, 46.1, 45.6]
    assert spread["mean"] == pytest.approx(45.6) and spread["sd"] == pytest.approx(0.5)
    assert (spread["min"], spread["max"]) == (45.1, 46.1)
    section = heldout_section({"service": {"tests": {"hsdpa": spread}}})
    assert "| service | hsdpa | 45.600 | 0.500 | 45.10 | 46.10 | 45.10 46.10 45.60 |" in section
    assert heldout_section({"service": {}}) == ""


def test_cli_rejects_missing_or_overlapping_test_sets(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["--test-sets", str(tmp_path / "nowhere")])
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--test-sets", "../shared/data/abr/cooked_traces"])
    assert "overlap the training traces" in capsys.readouterr().err
