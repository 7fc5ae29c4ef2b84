"""Offline optimum: dynamic programming over (chunk, buffer, last rung) with the future known.

Each DP state carries its exact trace clock, buffer and score; at every chunk
all states are expanded by every rung with the simulator's own rules
(transfer over the trace, 80 ms RTT, 60 s cap with 500 ms sleeps), and for
each (buffer bin, rung) cell only the best-scoring state is kept. Every kept
path is a real, replayable schedule, so the result is an achievable score;
with fine buffer bins it is the upper bound the online schemes are measured
against.
"""

from __future__ import annotations

import numpy as np

from bench.abr.simulator import (
    BUFFER_CAP_MS,
    DEFAULT_RUNG,
    PAYLOAD_FRACTION,
    REBUF_PENALTY,
    RTT_MS,
    SLEEP_STEP_MS,
    SMOOTH_PENALTY,
)
from bench.abr.traces import Trace, Video


class TraceClock:
    """Vectorised transfer times over a looping trace (same timeline as ``Player``).

    The trace is unrolled into cumulative payload bytes against absolute time:
    the first pass runs from ``time[0]``, later passes restart from time 0, as
    the reference environment does when it loops.
    """

    def __init__(self, trace: Trace, horizon_s: float = 4000.0) -> None:
        t = trace.time_s
        rate = trace.mbps * 1e6 / 8.0 * PAYLOAD_FRACTION
        ends = [t]
        gained = [np.concatenate([[0.0], np.diff(t) * rate[1:]])]
        offset = t[-1]
        period = np.concatenate([[t[1]], np.diff(t[1:])]) * rate[1:]
        while offset < horizon_s + t[0]:
            ends.append(offset + t[1:])
            gained.append(period)
            offset += t[-1]
        self.time = np.concatenate(ends)
        self.bytes = np.cumsum(np.concatenate(gained))
        self.start = float(t[0])

    def transfer_s(self, start: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Seconds to move ``size`` payload bytes starting at absolute trace time ``start``."""
        done = np.interp(start, self.time, self.bytes) + size
        return np.interp(done, self.bytes, self.time) - start


def offline_optimum(trace: Trace, video: Video, bin_s: float = 0.05) -> float:
    """Best QoE_lin (chunks 1..n-1) reachable on ``trace`` with the future known."""
    clock = TraceClock(trace)
    size0 = np.array([video.sizes[DEFAULT_RUNG, 0]])
    x = clock.transfer_s(np.array([clock.start]), size0)
    time = clock.start + x
    buffer = np.full(1, video.chunk_s * 1000.0)  # startup: the first chunk's stall is not scored
    rung = np.full(1, DEFAULT_RUNG)
    score = np.zeros(1)
    for n in range(1, video.n_chunks):
        keep, a, after, nb, total = expand(clock, video, n, time, buffer, rung, score, bin_s)
        time, buffer, rung, score = after[keep], nb[keep], a[keep], total[keep]
    return float(score.max())


def expand(
    clock: TraceClock,
    video: Video,
    n: int,
    time: np.ndarray,
    buffer: np.ndarray,
    rung: np.ndarray,
    score: np.ndarray,
    bin_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One DP step: every state times every rung for chunk ``n``, by the simulator's rules.

    Returns ``keep`` (the best expansion per (buffer bin, rung) cell) and, for every
    expansion, its rung, trace time after the download, buffer (ms) and score; state ``i``'s
    expansions are ``i * n_rungs .. i * n_rungs + n_rungs - 1``.
    """
    rates = video.bitrates_kbps / 1000.0
    n_rungs = len(rates)
    t = np.repeat(time, n_rungs)
    b = np.repeat(buffer, n_rungs)
    last = np.repeat(rung, n_rungs)
    a = np.tile(np.arange(n_rungs), len(time))
    xfer = clock.transfer_s(t, video.sizes[a, n])
    delay = xfer * 1000.0 + RTT_MS
    rebuf = np.maximum(delay - b, 0.0)
    nb = np.maximum(b - delay, 0.0) + video.chunk_s * 1000.0
    sleep = np.where(
        nb > BUFFER_CAP_MS, np.ceil((nb - BUFFER_CAP_MS) / SLEEP_STEP_MS) * SLEEP_STEP_MS, 0.0
    )
    nb = nb - sleep
    reward = (
        rates[a] - REBUF_PENALTY * rebuf / 1000.0 - SMOOTH_PENALTY * np.abs(rates[a] - rates[last])
    )
    total = np.repeat(score, n_rungs) + reward
    key = np.floor(nb / 1000.0 / bin_s).astype(np.int64) * n_rungs + a
    order = np.lexsort((-total, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return order[first], a, t + xfer + sleep / 1000.0, nb, total
