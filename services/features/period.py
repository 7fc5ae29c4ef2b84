"""Billing-period features: 14-day means of the daily viewing decline, viewing level and rebuffering.

A subscriber who cancels at the next bill acts on how the whole billing period
went, not on today's values. For each of the last ``PERIOD_DAYS`` days ``s``
(that the user was observed), from the event-time day buckets:

- decline: ``max(0, log((mean minutes/day over days s-28..s-8 + 30) /
  (mean minutes/day over s-6..s + 30)))``: the last week against weeks 2-4
  before it (the 30 minutes/day floor keeps an idle week after a light month
  a small drop, as ``minutes_drop_7d`` does);
- level: ``log(mean minutes/day over s-13..s + 30)``;
- rebuffering: ``log(ratio experienced over s-13..s / 0.4 %)``, time-weighted
  over the plays, 0 (a typical ratio) when nothing was watched;

and each feature is the mean of those daily values. Means per day count only the
days since the user's observed history began, so a user first seen last week
is not read as one whose viewing collapsed. Reaching 14 + 28 days back, they
need a ring of at least :data:`REACH_DAYS` day slots.

Why not average today's snapshot features in the churn service: a snapshot's
windows are today's, a day's late events change that day's buckets after its
snapshot was sent, and a churn service that restarts or misses days loses the
period. Computed here, the means read exactly the buckets every other feature
reads (bench, ``bench/results/churn_ablation.md``: these three over the
snapshot features, emulated, seed 1 0.6295 -> 0.6381, seed 2 0.6317 -> 0.6344).
"""

from __future__ import annotations

import numpy as np

from services.features import state as S
from services.features.events import DAY_S

PERIOD_NAMES: tuple[str, ...] = (
    "minutes_decline_mean_14d",
    "minutes_level_mean_14d",
    "rebuffer_log_mean_14d",
)
PERIOD_DAYS = 14
RECENT = (0, 6)  # ages (days before ``s``) of the last week
BEFORE = (8, 28)  # ages of the weeks it is compared with
LEVEL_DAYS = 14
REBUFFER_DAYS = 14
FLOOR_MIN = 30.0  # minutes/day added inside the logs
TYPICAL_REBUFFER = 0.004
REACH_DAYS = PERIOD_DAYS + max(BEFORE[1], LEVEL_DAYS - 1, REBUFFER_DAYS - 1)


def _by_age(days: np.ndarray, values: np.ndarray, today: int) -> np.ndarray:
    """``(n, REACH_DAYS)`` values by age (0 = today) from ring ``days`` ``(n, ring)``; absent days are 0."""
    age = today - days
    ok = (days >= 0) & (age >= 0) & (age < REACH_DAYS)
    out = np.zeros((days.shape[0], REACH_DAYS))
    rows, slots = np.nonzero(ok)
    out[rows, age[rows, slots]] = values[rows, slots]
    return out


def _windows(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``(n, PERIOD_DAYS)``: column ``k`` sums ``x`` over ages ``k+lo..k+hi`` (clipped to the reach)."""
    cs = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    k = np.arange(PERIOD_DAYS)
    return cs[:, np.minimum(k + hi + 1, REACH_DAYS)] - cs[:, np.minimum(k + lo, REACH_DAYS)]


def period_matrix(
    days: np.ndarray, counts: np.ndarray, begin: np.ndarray, now: float
) -> np.ndarray:
    """``(n, len(PERIOD_NAMES))`` at event time ``now``.

    ``days`` ``(n, ring)`` and ``counts`` ``(n, N_COUNTERS, ring)`` are the users' ring
    buckets, ``begin`` ``(n,)`` the event time their observed history starts.

    A user who watched 60 minutes a day for four weeks, then nothing for a week:

    >>> ring = 45
    >>> days = np.arange(ring)[None, :] + 0  # day d in slot d
    >>> counts = np.zeros((1, S.N_COUNTERS, ring))
    >>> counts[0, S.WATCH_S, :36] = 3600.0
    >>> f = period_matrix(days, counts, np.array([0.0]), 43 * DAY_S)
    >>> [round(float(v), 3) for v in f[0]]  # today's decline is log(90 / 30) = 1.099
    [0.344, 4.356, 0.0]
    """
    today = int(now // DAY_S)
    minutes = _by_age(days, counts[:, S.WATCH_S, :], today) / 60.0
    chunk = _by_age(days, counts[:, S.CHUNK_S, :], today)
    rebuf = _by_age(days, counts[:, S.REBUFFER_S, :], today)
    first_day = np.floor(begin / DAY_S)
    observed = (today - np.arange(REACH_DAYS)[None, :] >= first_day[:, None]).astype(np.float64)

    def mean(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        n = _windows(observed, lo, hi)
        return _windows(minutes, lo, hi) / np.maximum(n, 1.0), n > 0

    recent, ok_r = mean(*RECENT)
    before, ok_b = mean(*BEFORE)
    decline = np.where(
        ok_r & ok_b, np.maximum(0.0, np.log((before + FLOOR_MIN) / (recent + FLOOR_MIN))), 0.0
    )
    level_m, _ = mean(0, LEVEL_DAYS - 1)
    level = np.log(level_m + FLOOR_MIN)
    rb = _windows(rebuf, 0, REBUFFER_DAYS - 1)
    ch = _windows(chunk, 0, REBUFFER_DAYS - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rb / (rb + ch)
    rebuffer = np.where(ch > 0, np.log(np.maximum(ratio, 1e-6) / TYPICAL_REBUFFER), 0.0)
    # Average over the period's days the user was observed (today always counts).
    days_ok = observed[:, :PERIOD_DAYS].copy()
    days_ok[:, 0] = 1.0
    n_ok = days_ok.sum(axis=1)
    return np.stack([(v * days_ok).sum(axis=1) / n_ok for v in (decline, level, rebuffer)], axis=1)
