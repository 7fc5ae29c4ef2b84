"""The MPC planner's inner loop compiled (numba): buffer and stalls of every rung sequence.

The planner scores every rung sequence over the horizon under every throughput
scenario. In numpy that is one broadcast per chunk ahead over arrays that grow to
(scenarios x 6**moves): about 40 small array operations, whose per-call overhead
(not arithmetic) is most of a decision's CPU. This kernel does the same float32
arithmetic in the same order in one compiled pass, so its results are bitwise those
of :func:`simulate_numpy` (the reference, kept for the tests), at a fraction of the cost.

Sequences are numbered as numpy flattens the broadcast axes: sequence ``n`` takes
rung ``(n // R**(M-1-j)) % R`` for move ``j`` of ``M``.

>>> # One scenario, two 4 s chunks, two rungs taking 1 s and 3 s to download, 2 s buffered:
>>> download = np.array([[[1.0, 3.0], [1.0, 3.0]]], dtype=np.float32)
>>> rebuf, left = simulate(download, 2.0, np.array([0, 1]), 4.0, 60.0, True)
>>> rebuf.tolist(), left.tolist()  # sequences (0, 0), (0, 1), (1, 0), (1, 1)
([[0.0, 0.0, 1.0, 1.0]], [[8.0, 6.0, 7.0, 5.0]])
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _chunk(
    b: np.float32, d: np.float32, chunk: np.float32, cap: np.float32, update: bool
) -> tuple[np.float32, np.float32]:  # pragma: no cover - compiled; tested through simulate()
    """Stall and next buffer of one download of ``d`` s with ``b`` s buffered (float32)."""
    zero = np.float32(0.0)
    stall = d - b
    if stall < zero:
        stall = zero
    if not update:  # the buffer after the horizon's last chunk is not needed
        return stall, b
    nb = b - d
    if nb < zero:
        nb = zero
    nb = nb + chunk
    if nb > cap:
        nb = cap
    return stall, nb


@njit(cache=True, nogil=True)
def _simulate(
    download: np.ndarray,
    buffer_s: float,
    moves: np.ndarray,
    chunk_s: float,
    cap_s: float,
    end_buffer: bool,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested through simulate()
    n_s, n_t, n_r = download.shape
    n_moves = moves[n_t - 1] + 1
    n_seq = n_r**n_moves
    buf = np.empty((n_s, n_seq), np.float32)
    reb = np.empty((n_s, n_seq), np.float32)
    chunk = np.float32(chunk_s)
    cap = np.float32(cap_s)
    zero = np.float32(0.0)
    for s in range(n_s):
        buf[s, 0] = np.float32(buffer_s)
        reb[s, 0] = zero
    width = 1
    for t in range(n_t):
        fresh = t == 0 or moves[t - 1] != moves[t]
        update = t < n_t - 1 or end_buffer
        for s in range(n_s):
            if fresh:
                # A new move: every sequence so far branches into n_r. Written from the top
                # down, so each entry is read before its slot is overwritten.
                for i in range(width - 1, -1, -1):
                    b = buf[s, i]
                    rb = reb[s, i]
                    for r in range(n_r):
                        stall, nb = _chunk(b, download[s, t, r], chunk, cap, update)
                        k = i * n_r + r
                        reb[s, k] = rb + stall * weights[t]
                        buf[s, k] = nb
            else:
                # The same move goes on: the rung is the last digit of the sequence number.
                for i in range(width):
                    stall, nb = _chunk(buf[s, i], download[s, t, i % n_r], chunk, cap, update)
                    reb[s, i] = reb[s, i] + stall * weights[t]
                    buf[s, i] = nb
        if fresh:
            width *= n_r
    return reb, buf


def simulate(
    download: np.ndarray,
    buffer_s: float,
    moves: np.ndarray,
    chunk_s: float,
    cap_s: float,
    end_buffer: bool,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stall seconds and end buffer, (scenarios x sequences) float32 each.

    ``download`` is (scenarios, chunks, rungs) float32 seconds; ``moves[t]`` is the
    move chunk ``t`` belongs to (non-decreasing from 0); ``end_buffer`` asks for the
    buffer after the last chunk (else it is the buffer before it); ``weights`` (one per
    chunk, default 1) weigh each chunk's stall in the sum (a discount over the horizon).
    """
    n_t = download.shape[1]
    if weights is None:
        w = _ONES.get(n_t)
        if w is None:
            w = _ONES[n_t] = np.ones(n_t, np.float32)
    else:
        w = np.ascontiguousarray(weights[:n_t], dtype=np.float32)
    return _simulate(
        np.ascontiguousarray(download, dtype=np.float32),
        float(buffer_s),
        np.asarray(moves, dtype=np.int64),
        float(chunk_s),
        float(cap_s),
        bool(end_buffer),
        w,
    )


# Unit stall weights per horizon length, made once (the undiscounted planner's every call).
_ONES: dict[int, np.ndarray] = {}


def simulate_numpy(
    download: np.ndarray,
    buffer_s: float,
    moves: np.ndarray,
    chunk_s: float,
    cap_s: float,
    end_buffer: bool,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The same by numpy broadcasting (the reference the kernel is tested against)."""
    s, length, r = download.shape
    w = np.ones(length, np.float32) if weights is None else np.asarray(weights, np.float32)
    buffer = np.full((s,), buffer_s, dtype=np.float32)
    rebuf = np.zeros((s,), dtype=np.float32)
    for t in range(length):
        j = int(moves[t])
        d = download[:, t, :].reshape((s,) + (1,) * j + (r,))
        fresh = t == 0 or moves[t - 1] != j
        b = buffer[..., None] if fresh else buffer
        stall = d - b
        np.maximum(stall, 0.0, out=stall)
        rebuf = (rebuf[..., None] if fresh else rebuf) + stall * w[t]
        if t < length - 1 or end_buffer:
            buffer = b - d
            np.maximum(buffer, 0.0, out=buffer)
            buffer += chunk_s
            np.minimum(buffer, cap_s, out=buffer)
        else:
            buffer = np.broadcast_to(b, rebuf.shape)
    return rebuf.reshape(s, -1), np.ascontiguousarray(buffer).reshape(s, -1)


def warm_up() -> None:
    """Compile (or load from numba's cache) before serving, so no player waits for it."""
    download = np.ones((2, 5, 6), dtype=np.float32)
    for end_buffer in (True, False):
        simulate(download, 10.0, np.array([0, 1, 2, 3, 3]), 4.0, 60.0, end_buffer)
