"""One recursive-least-squares step, compiled (numba): the throughput models' update.

Every chunk updates two models (the plan's and the next chunk's), each a 14 x 14 covariance.
In numpy that is a handful of small array operations whose per-call overhead, not their
arithmetic, is the cost (about 30 us a step, more than a tenth of a decision on the serving
path). This kernel does the same update in place in one compiled pass. Its sums run in plain
index order where numpy's matrix-vector product may block them, so results agree with
:func:`rls_step_numpy` (the reference, kept for the tests) to rounding, not bit for bit.

>>> w, cov = np.zeros(2), np.eye(2)
>>> rls_step(w, cov, np.array([1.0, 0.0]), 2.0, 1.0, 1e4, 1.0)
False
>>> w.tolist(), cov.tolist()  # half-way to the target: prior precision 1, one observation
([1.0, 0.0], [[0.5, 0.0], [0.0, 1.0]])
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def rls_step(
    weights: np.ndarray,
    cov: np.ndarray,
    v: np.ndarray,
    error: float,
    forgetting: float,
    max_trace: float,
    ridge: float,
) -> bool:  # pragma: no cover - compiled; tested against rls_step_numpy
    """Update ``weights`` and ``cov`` in place for features ``v`` with ``error`` = target - w.v.

    Returns True if rounding had broken the covariance's positive definiteness and it was
    restarted at the prior (the weights are kept).
    """
    d = v.shape[0]
    pv = np.empty(d)
    denom = forgetting
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += cov[i, j] * v[j]
        pv[i] = s
        denom += v[i] * s
    restarted = False
    if not (denom > 0.0 and math.isfinite(denom)):
        restarted = True
        for i in range(d):
            for j in range(d):
                cov[i, j] = 0.0
            cov[i, i] = 1.0 / ridge
        denom = forgetting
        for i in range(d):
            pv[i] = cov[i, i] * v[i]
            denom += v[i] * pv[i]
    for i in range(d):
        gain = pv[i] / denom
        weights[i] += gain * error
        for j in range(d):
            cov[i, j] -= gain * pv[j]
    trace = 0.0
    for i in range(d):
        trace += cov[i, i]
        for j in range(i + 1, d):
            m = 0.5 * (cov[i, j] + cov[j, i])  # keep it symmetric against rounding drift
            cov[i, j] = m
            cov[j, i] = m
    # Forgetting inflates the covariance in directions the data never excites (windup);
    # stop inflating once it is as uncertain as the prior allows.
    if trace < max_trace:
        for i in range(d):
            for j in range(d):
                cov[i, j] /= forgetting
    return restarted


def rls_step_numpy(
    weights: np.ndarray,
    cov: np.ndarray,
    v: np.ndarray,
    error: float,
    forgetting: float,
    max_trace: float,
    ridge: float,
) -> bool:
    """The same step in numpy (the reference for :func:`rls_step`)."""
    restarted = False
    pv = cov @ v
    denom = forgetting + float(v @ pv)
    if denom <= 0.0 or not math.isfinite(denom):
        restarted = True
        cov[:] = np.eye(len(v)) / ridge
        pv = cov @ v
        denom = forgetting + float(v @ pv)
    gain = pv / denom
    weights += gain * error
    cov -= np.outer(gain, pv)
    cov[:] = 0.5 * (cov + cov.T)
    if float(np.trace(cov)) < max_trace:
        cov /= forgetting
    return restarted
