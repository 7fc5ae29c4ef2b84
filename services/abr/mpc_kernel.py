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

from typing import NamedTuple

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


# 3-point Gauss-Hermite rule for a standard normal: nodes and weights (exact to degree 5).
GH_NODES = np.array([-np.sqrt(3.0), 0.0, np.sqrt(3.0)])
GH_WEIGHTS = np.array([1.0, 4.0, 1.0]) / 6.0


@njit(cache=True, nogil=True)
def _partial_reveal(
    fixed: np.ndarray,
    rebuf: np.ndarray,
    rebuf_penalty: float,
    kept_weight: float,
    kept: np.ndarray,
    allowed: np.ndarray,
    logs: np.ndarray,
    w: np.ndarray,
    sd: float,
    n_first: int,
) -> np.ndarray:  # pragma: no cover - compiled; tested through partial_reveal()
    n_s, n_seq = rebuf.shape
    block = n_seq // n_first
    # The scenario-dependent part of every sequence's value, once.
    value = np.empty((n_s, n_seq))
    for t in range(n_s):
        for n in range(n_seq):
            value[t, n] = -rebuf_penalty * rebuf[t, n]
            if kept.shape[0] > 0:
                value[t, n] += kept_weight * kept[t, n]
    out = np.zeros(n_first)
    post = np.empty(n_s)
    z2 = np.empty(n_s)
    mixed = np.empty(n_seq)
    for s in range(n_s):
        for j in range(3):
            obs = logs[s] + sd * GH_NODES[j]
            least = np.inf
            for t in range(n_s):
                z = (obs - logs[t]) / sd
                z2[t] = z * z
                least = min(least, z2[t])
            total = 0.0
            for t in range(n_s):
                post[t] = np.exp(-0.5 * (z2[t] - least)) * w[t]
                total += post[t]
            for n in range(n_seq):
                mixed[n] = fixed[n]
            for t in range(n_s):
                p = post[t] / total
                for n in range(n_seq):
                    mixed[n] += p * value[t, n]
            for f in range(n_first):
                best = -np.inf
                for n in range(f * block, (f + 1) * block):
                    if allowed[n]:
                        best = max(best, mixed[n])
                out[f] += w[s] * GH_WEIGHTS[j] * best
    return out


class RevealTerms(NamedTuple):
    """What :func:`partial_reveal` values: every sequence's QoE terms under every scenario.

    Sequence ``n`` under scenario ``s`` is worth ``fixed[n] - rebuf_penalty * rebuf[s, n] +
    kept_weight * kept[s, n]`` (``kept``: the buffer credited at the horizon, None for none);
    ``allowed`` rules sequences out (a cap); sequences are numbered first rung major (``n_first``
    blocks). ``logs`` are the scenarios' log rates, ``w`` their weights, ``sd`` the noise of
    the first chunk's log rate as a look at the scenario.
    """

    fixed: np.ndarray
    rebuf: np.ndarray
    rebuf_penalty: float
    kept_weight: float
    kept: np.ndarray | None
    allowed: np.ndarray
    logs: np.ndarray
    w: np.ndarray
    sd: float
    n_first: int


def partial_reveal(t: RevealTerms) -> np.ndarray:
    """Value per first rung when the first chunk is a noisy look at the scenario.

    The first chunk's log rate is o = logs[s] + sd * z (z standard normal, 3-point
    Gauss-Hermite); the rest of the plan is then chosen for the posterior P(s | o), so the value
    is sum_o P(o) max_rest sum_s P(s | o) value[s]. sd near 0 tells the scenarios apart exactly
    (E_s[max_rest value[s]]), a large sd nothing (max_rest E_s[value[s]], the open-loop plan).

    >>> rebuf = np.array([[0.0, 1.0], [1.0, 0.0]])  # one first rung, two ways to go on,
    >>> logs, w, ok = np.log([1e5, 4e5]), np.array([0.5, 0.5]), np.ones(2, bool)  # each stalls
    >>> terms = RevealTerms(np.zeros(2), rebuf, 4.0, 0.0, None, ok, logs, w, 1e-3, 1)
    >>> partial_reveal(terms).round(3).tolist()  # in one scenario: a sharp look avoids it
    [0.0]
    >>> partial_reveal(terms._replace(sd=1e6)).round(3).tolist()  # a blind one cannot
    [-2.0]
    """
    n_s = t.rebuf.shape[0]
    return _partial_reveal(
        np.asarray(t.fixed, dtype=np.float64),
        np.ascontiguousarray(t.rebuf, dtype=np.float32),
        float(t.rebuf_penalty),
        float(t.kept_weight),
        _NO_KEPT
        if t.kept is None
        else np.ascontiguousarray(t.kept, dtype=np.float32).reshape(n_s, -1),
        np.asarray(t.allowed, dtype=np.bool_),
        np.asarray(t.logs, dtype=np.float64),
        np.asarray(t.w, dtype=np.float64),
        float(t.sd),
        int(t.n_first),
    )


_NO_KEPT = np.zeros((0, 0), np.float32)


def partial_reveal_numpy(t: RevealTerms) -> np.ndarray:
    """The same by numpy broadcasting (the reference the kernel is tested against)."""
    value = t.fixed[None, :] - t.rebuf_penalty * t.rebuf.astype(np.float64)
    if t.kept is not None:
        value = value + t.kept_weight * t.kept.astype(np.float64)
    obs = (t.logs[:, None] + t.sd * GH_NODES[None, :]).ravel()
    p_obs = (t.w[:, None] * GH_WEIGHTS[None, :]).ravel()
    z2 = ((obs[:, None] - t.logs[None, :]) / t.sd) ** 2
    post = np.exp(-0.5 * (z2 - z2.min(axis=1, keepdims=True))) * t.w[None, :]
    post /= post.sum(axis=1, keepdims=True)
    mixed = np.where(t.allowed, post @ value, -np.inf).reshape(len(obs), t.n_first, -1)
    return np.asarray(p_obs @ mixed.max(axis=2))


class Scores(NamedTuple):
    """What :func:`score` returns: the best sequence, and each first rung's best value.

    ``best`` and ``best_value`` are ``argmax`` and ``max`` of the value with disallowed
    sequences (over the cap) masked out; the four arrays (one float32 per first rung) are the
    block maxima of the masked value, of the unmasked value, and of the masked value with the
    switch term or the rebuffer term left out (the planner's counterfactuals for the reason).
    """

    best: int
    best_value: float
    per_first: np.ndarray
    per_first_free: np.ndarray
    per_first_no_switch: np.ndarray
    per_first_no_rebuffer: np.ndarray


@njit(cache=True, nogil=True)
def _score(
    util: np.ndarray,
    smooth: np.ndarray,
    exp_rebuf: np.ndarray,
    exp_kept: np.ndarray,
    top: np.ndarray,
    cap: int,
    switch_penalty: np.float32,
    rebuffer_penalty: np.float32,
    kept_weight: np.float32,
    terminal: bool,
    n_first: int,
) -> tuple[int, np.float32, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    n = util.shape[0]
    block = n // n_first
    low = np.float32(-np.inf)
    per_first = np.full(n_first, low, np.float32)
    free = np.full(n_first, low, np.float32)
    no_switch = np.full(n_first, low, np.float32)
    no_rebuffer = np.full(n_first, low, np.float32)
    best = 0
    best_value = low
    found = False
    for i in range(n):
        # The planner's numpy expressions, one float32 operation at a time in their order.
        switch_cost = switch_penalty * smooth[i]
        rebuffer_cost = rebuffer_penalty * exp_rebuf[i]
        v = (util[i] - switch_cost) - rebuffer_cost
        if terminal:
            v = v + kept_weight * exp_kept[i]
        j = i // block
        if v > free[j]:
            free[j] = v
        if top[i] > cap:
            continue
        if not found or v > best_value:  # the first maximum, as argmax
            best, best_value, found = i, v, True
        if v > per_first[j]:
            per_first[j] = v
        a = v + switch_cost
        if a > no_switch[j]:
            no_switch[j] = a
        b = v + rebuffer_cost
        if b > no_rebuffer[j]:
            no_rebuffer[j] = b
    return best, best_value, per_first, free, no_switch, no_rebuffer


class ScoreTerms(NamedTuple):
    """The inputs of :func:`score`: flat per-sequence terms and the planner's weights.

    ``exp_kept`` (the expected buffer value) is None when the plan carries no terminal value;
    ``top`` is each sequence's highest rung, compared with ``cap``; ``n_first`` is the number of
    first rungs (the sequences come in that many equal blocks).
    """

    util: np.ndarray
    smooth: np.ndarray
    exp_rebuf: np.ndarray
    exp_kept: np.ndarray | None
    top: np.ndarray
    cap: int
    switch_penalty: float
    rebuffer_penalty: float
    kept_weight: float
    n_first: int


def score(t: ScoreTerms) -> Scores:
    """Value of every rung sequence, the best one and each first rung's best, in one pass.

    The value is ``util - switch_penalty * smooth - rebuffer_penalty * exp_rebuf`` (plus
    ``kept_weight * exp_kept`` when ``exp_kept`` is given), in float32 as the planner's numpy
    expressions compute it: the penalties are float32 scalars, as numpy makes of Python floats
    against float32 arrays. So the results are bitwise those of :func:`score_numpy`, which
    spends about twenty array operations (and their per-call overhead) on the same thing.

    >>> util = np.array([1.0, 2.0, 3.0, 4.0], np.float32)  # two first rungs x two second
    >>> z = np.zeros(4, np.float32)
    >>> s = score(ScoreTerms(util, z, z, None, np.array([0, 1, 1, 1]), 0, 1.0, 1.0, 0.0, 2))
    >>> s.best, s.best_value, s.per_first.tolist(), s.per_first_free.tolist()
    (0, 1.0, [1.0, -inf], [2.0, 4.0])
    """
    best, best_value, per_first, free, no_switch, no_rebuffer = _score(
        t.util,
        t.smooth,
        t.exp_rebuf,
        t.exp_kept if t.exp_kept is not None else t.exp_rebuf,
        np.asarray(t.top, dtype=np.int64),
        int(t.cap),
        np.float32(t.switch_penalty),
        np.float32(t.rebuffer_penalty),
        np.float32(t.kept_weight),
        t.exp_kept is not None,
        int(t.n_first),
    )
    return Scores(int(best), float(best_value), per_first, free, no_switch, no_rebuffer)


def score_numpy(t: ScoreTerms) -> Scores:
    """The same by numpy array operations (the reference the kernel is tested against)."""
    value = t.util - t.switch_penalty * t.smooth - t.rebuffer_penalty * t.exp_rebuf
    if t.exp_kept is not None:
        value = value + t.kept_weight * t.exp_kept
    allowed = t.top <= t.cap
    masked = np.where(allowed, value, -np.inf)
    best = int(np.argmax(masked))

    def firsts(values: np.ndarray) -> np.ndarray:
        return np.asarray(values.reshape(t.n_first, -1).max(axis=1))

    return Scores(
        best,
        float(masked[best]),
        firsts(masked),
        firsts(value),
        firsts(np.where(allowed, value + t.switch_penalty * t.smooth, -np.inf)),
        firsts(np.where(allowed, value + t.rebuffer_penalty * t.exp_rebuf, -np.inf)),
    )


def warm_up() -> None:
    """Compile (or load from numba's cache) before serving, so no player waits for it."""
    download = np.ones((2, 5, 6), dtype=np.float32)
    for end_buffer in (True, False):
        simulate(download, 10.0, np.array([0, 1, 2, 3, 3]), 4.0, 60.0, end_buffer)
    flat = np.zeros(216, np.float32)
    for kept_flat in (None, flat):
        score(ScoreTerms(flat, flat, flat, kept_flat, np.zeros(216, np.int64), 5, 1.0, 4.3, 0.3, 6))
    rebuf = np.zeros((2, 216), np.float32)
    for kept in (None, rebuf):
        ok = np.ones(216, bool)
        partial_reveal(
            RevealTerms(np.zeros(216), rebuf, 4.3, 0.3, kept, ok, np.zeros(2), np.ones(2), 0.5, 6)
        )
