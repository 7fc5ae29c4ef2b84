"""Clairvoyant expert for imitation learning: the optimal next rung from any mid-session state.

The same dynamic programme as ``optimal.offline_optimum`` (exact trace clock,
simulator rules, best state kept per (buffer bin, rung)), started from a
player's state at chunk ``n`` instead of the session start, with every state
remembering the first rung it took. The best final state's first rung is the
expert's answer, as Comyco's "instant solver" labels the states its learner
visits (DAgger).
"""

from __future__ import annotations

import numpy as np

from bench.abr.optimal import TraceClock
from bench.abr.simulator import (
    BUFFER_CAP_MS,
    REBUF_PENALTY,
    RTT_MS,
    SLEEP_STEP_MS,
    SMOOTH_PENALTY,
)
from bench.abr.traces import Video


def expert_rung(
    clock: TraceClock,
    video: Video,
    *,
    time_s: float,
    buffer_ms: float,
    last_rung: int,
    chunk: int,
    bin_s: float = 0.5,
    lookahead: int | None = None,
) -> int:
    """Best rung for chunk ``chunk`` with the future known (to the end, or ``lookahead`` chunks)."""
    rates = video.bitrates_kbps / 1000.0
    n_rungs = len(rates)
    end = video.n_chunks if lookahead is None else min(video.n_chunks, chunk + lookahead)
    time = np.full(1, time_s)
    buffer = np.full(1, buffer_ms)
    rung = np.full(1, last_rung)
    origin = np.full(1, -1)
    score = np.zeros(1)
    actions = np.arange(n_rungs)
    for n in range(chunk, end):
        t = np.repeat(time, n_rungs)
        b = np.repeat(buffer, n_rungs)
        last = np.repeat(rung, n_rungs)
        a = np.tile(actions, len(time))
        first = np.where(n == chunk, a, np.repeat(origin, n_rungs))
        xfer = clock.transfer_s(t, video.sizes[a, n])
        delay = xfer * 1000.0 + RTT_MS
        rebuf = np.maximum(delay - b, 0.0)
        nb = np.maximum(b - delay, 0.0) + video.chunk_s * 1000.0
        sleep = np.where(
            nb > BUFFER_CAP_MS, np.ceil((nb - BUFFER_CAP_MS) / SLEEP_STEP_MS) * SLEEP_STEP_MS, 0.0
        )
        nb = nb - sleep
        reward = (
            rates[a]
            - REBUF_PENALTY * rebuf / 1000.0
            - SMOOTH_PENALTY * np.abs(rates[a] - rates[last])
        )
        total = np.repeat(score, n_rungs) + reward
        key = np.floor(nb / 1000.0 / bin_s).astype(np.int64) * n_rungs + a
        order = np.lexsort((-total, key))
        keep_first = np.ones(len(order), dtype=bool)
        keep_first[1:] = key[order][1:] != key[order][:-1]
        keep = order[keep_first]
        time = (t + xfer + sleep / 1000.0)[keep]
        buffer = nb[keep]
        rung = a[keep]
        origin = first[keep]
        score = total[keep]
    return int(origin[int(np.argmax(score))])
