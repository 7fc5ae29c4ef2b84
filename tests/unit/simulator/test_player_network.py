"""Bandwidth traces, chunk downloads, buffer dynamics and the client-side BBA, hand-computed."""

import numpy as np
import pytest

from reelstream.common.v1 import types_pb2 as types
from services.simulator.network import PAYLOAD, RTT_S, Trace, load_trace, synth_trace
from services.simulator.player import BUFFER_CAP_S, CHUNK_S, advance, bba_rung


def test_constant_trace_download_time():
    tr = Trace.constant(8.0, 100.0)
    # 1 MB = 8 Mbit at 8 Mbit/s * 0.95 payload = 1.0526 s, plus the 80 ms RTT.
    assert tr.download_s(0.0, 1_000_000) == pytest.approx(8 / (8 * PAYLOAD) + RTT_S)
    assert RTT_S == 0.08 and PAYLOAD == 0.95


def test_download_crosses_segments_and_loops():
    # 2 Mbit/s for 10 s, then 4 Mbit/s for 10 s; payload 0.95.
    tr = Trace(np.array([0.0, 10.0, 20.0]), np.array([2.0, 4.0]))
    # Start at t=8: 2 s at 1.9 Mbit/s = 3.8 Mbit, then 3.8 Mbit/s: 7.6 Mbit total needs 1 s more.
    assert tr.transfer_s(8.0, 7.6e6 / 8) == pytest.approx(3.0)
    # Start at t=18 (time 38 wraps to 18 as well): 2 s at 3.8 = 7.6 Mbit exactly.
    assert tr.transfer_s(38.0, 7.6e6 / 8) == pytest.approx(2.0)
    # A whole loop carries 19 + 38 = 57 Mbit.
    assert tr.transfer_s(0.0, 57e6 / 8 * 2) == pytest.approx(40.0)


def test_chunk_sequence_over_a_constant_link_builds_then_drains_the_buffer():
    # 4-s chunks of 1 MB over 8 Mbit/s: each download takes 1.0526 + 0.08 = 1.1326 s.
    tr = Trace.constant(8.0, 1000.0)
    d = tr.download_s(0.0, 1_000_000)
    first = advance(0.0, d, startup=True)
    assert (first.rebuffer_s, first.buffer_after_s, first.played_s) == (0.0, CHUNK_S, 0.0)
    second = advance(first.buffer_after_s, d)
    assert second.rebuffer_s == 0.0
    assert second.buffer_after_s == pytest.approx(4.0 - d + 4.0)
    assert second.played_s == pytest.approx(d)


def test_slow_link_rebuffers_by_the_shortfall():
    # 2 MB over 2 Mbit/s: 16 Mbit / 1.9 = 8.421 s + 0.08; with 4 s buffered, stall 4.501 s.
    tr = Trace.constant(2.0, 1000.0)
    d = tr.download_s(0.0, 2_000_000)
    assert d == pytest.approx(16 / 1.9 + 0.08)
    out = advance(4.0, d)
    assert out.rebuffer_s == pytest.approx(d - 4.0)
    assert out.buffer_after_s == CHUNK_S
    assert out.played_s == 4.0


def test_full_buffer_sleeps_in_half_second_steps():
    out = advance(BUFFER_CAP_S - 1.2, 0.5)  # lands at 62.3 s: sleep 2.5 s (5 steps)
    assert out.sleep_s == 2.5
    assert out.buffer_after_s == pytest.approx(59.8)
    assert out.played_s == pytest.approx(3.0)


def test_bba_reservoir_cushion_and_linear_map():
    assert bba_rung(0.0) == 0 and bba_rung(4.99) == 0
    assert bba_rung(15.0) == 5 and bba_rung(59.0) == 5
    # Linear in between: rung = floor(5 * (buffer - 5) / 10).
    for buf, rung in ((5.0, 0), (6.9, 0), (7.0, 1), (9.0, 2), (11.0, 3), (13.0, 4), (14.99, 4)):
        assert bba_rung(buf) == rung, buf
    assert bba_rung(20.0, max_rung=4) == 4
    assert [bba_rung(b) for b in np.linspace(0, 20, 41)] == sorted(
        bba_rung(b) for b in np.linspace(0, 20, 41)
    )


def test_trace_file_format(tmp_path):
    p = tmp_path / "trace.log"
    p.write_text("100.0 1.5\n101.0 3.0\n103.0 6.0\n")
    tr = load_trace(p)
    assert tr.length_s == 3.0
    # The sample at 101 s holds over (100, 101]: 3 Mbit/s during the first second.
    assert tr.mbps_at(0.5) == 3.0 and tr.mbps_at(2.0) == 6.0


def test_synthetic_traces_follow_the_network_type():
    rng = np.random.default_rng(5)
    wifi = np.median(
        np.concatenate([synth_trace(rng, types.NETWORK_TYPE_WIFI).mbps for _ in range(20)])
    )
    g3 = np.median(
        np.concatenate([synth_trace(rng, types.NETWORK_TYPE_CELLULAR_3G).mbps for _ in range(20)])
    )
    assert 4.0 < wifi < 15.0
    assert 0.3 < g3 < 2.0
    same = synth_trace(np.random.default_rng(1), types.NETWORK_TYPE_CELLULAR_4G)
    again = synth_trace(np.random.default_rng(1), types.NETWORK_TYPE_CELLULAR_4G)
    assert np.array_equal(same.mbps, again.mbps)
