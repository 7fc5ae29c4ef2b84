"""The simulator against hand-computed constant-throughput cases."""

import numpy as np
import pytest

from bench.abr.optimal import TraceClock, offline_optimum
from bench.abr.simulator import Player, SessionLog, chunk_reward, run_session
from bench.abr.traces import Trace, Video

LADDER = np.array([300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0])


def constant_trace(mbps=8.0, seconds=2000):
    t = np.arange(seconds + 1, dtype=float)
    return Trace("const", t, np.full(len(t), mbps))


def video(n_chunks, unit=475_000.0):
    # Rung r chunks are (r + 1) * unit bytes: at 8 Mbit/s * 0.95 = 950 kB/s, unit = 0.5 s.
    sizes = np.outer(np.arange(1, 7), np.ones(n_chunks + 1)) * unit
    return Video(sizes, LADDER, n_chunks)


class Script:
    name = "script"

    def __init__(self, rungs):
        self.rungs = rungs

    def start(self, trace_name):
        self.i = 0

    def choose(self, obs, video):
        self.i += 1
        return self.rungs[min(self.i, len(self.rungs) - 1)]


def test_constant_link_download_rebuffer_and_qoe():
    log = run_session(constant_trace(), video(3), Script([1, 3, 0]))
    # chunk 0: rung 1 = 950 kB -> 1 s + 80 ms RTT, all of it stalls (empty buffer)
    # chunk 1: rung 3 = 1.9 MB -> 2.08 s, buffer 4 s: no stall
    # chunk 2: rung 0 = 475 kB -> 0.58 s
    assert log.delay_ms == pytest.approx([1080.0, 2080.0, 580.0])
    assert log.rebuffer_s == pytest.approx([1.08, 0.0, 0.0])
    assert log.rungs == [1, 3, 0]
    # QoE: chunk 1 = 1.85 - |1.85 - 0.75| = 0.75; chunk 2 = 0.3 - 1.55 = -1.25
    assert log.qoe == pytest.approx(-0.5)
    kbps, rebuf, switches = log.played(LADDER)
    assert (kbps, rebuf, switches) == (pytest.approx(1075.0), 0.0, 2)


def test_buffer_cap_sleeps_in_half_second_steps():
    player = Player(constant_trace(), video(17, unit=95_000.0))  # rung 0: 0.1 s + 80 ms
    results = [player.download(0) for _ in range(17)]
    # buffer after chunk k = 4 + 3.82 k s; chunk 15 reaches 61.3 s -> sleep ceil(1.3/0.5) * 0.5
    assert results[14].sleep_ms == 0.0
    assert results[15].sleep_ms == 1500.0
    assert results[15].buffer_s == pytest.approx(59.8)
    assert results[-1].end_of_video and results[-1].remaining == 0


def test_rebuffer_penalty_in_reward():
    assert chunk_reward(LADDER, 2, 2, 1.0) == pytest.approx(1.2 - 4.3)
    log = SessionLog("x", rewards=[-9.0, 1.0, 2.0])
    assert log.qoe == 3.0  # chunk 0 is not scored


def test_trace_clock_matches_player_on_a_looping_trace():
    rng = np.random.default_rng(3)
    t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.2, 1.5, 40))])
    trace = Trace("loop", t, rng.uniform(0.2, 6.0, len(t)))
    v = video(48, unit=300_000.0)
    player, clock, now = Player(trace, v), TraceClock(trace), t[0]
    for i in range(48):
        rung = int(rng.integers(6))
        obs = player.download(rung)
        x = clock.transfer_s(np.array([now]), np.array([v.sizes[rung, i]]))[0]
        assert x * 1000 + 80 == pytest.approx(obs.delay_ms, abs=1e-6)
        now += x + obs.sleep_ms / 1000


def test_offline_optimum_beats_any_fixed_rung():
    trace, v = constant_trace(mbps=3.0), video(10, unit=150_000.0)
    best = offline_optimum(trace, v)
    for rung in range(6):
        assert best >= run_session(trace, v, Script([1, rung])).qoe - 1e-9
