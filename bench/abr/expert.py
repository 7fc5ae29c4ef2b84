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

from bench.abr.optimal import TraceClock, expand
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
    n_rungs = len(video.bitrates_kbps)
    end = video.n_chunks if lookahead is None else min(video.n_chunks, chunk + lookahead)
    time = np.full(1, time_s)
    buffer = np.full(1, buffer_ms)
    rung = np.full(1, last_rung)
    origin = np.full(1, -1)
    score = np.zeros(1)
    for n in range(chunk, end):
        keep, a, after, nb, total = expand(clock, video, n, time, buffer, rung, score, bin_s)
        first = a if n == chunk else np.repeat(origin, n_rungs)  # the rung each path began with
        time, buffer, rung, origin, score = after[keep], nb[keep], a[keep], first[keep], total[keep]
    return int(origin[int(np.argmax(score))])
