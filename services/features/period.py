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

import math

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


_ROWS = [S.WATCH_S, S.CHUNK_S, S.REBUFFER_S]


def _by_age(days: np.ndarray, counts: np.ndarray, today: int) -> np.ndarray:
    """``(n, 3, REACH_DAYS)`` watch, chunk and rebuffer seconds by age (0 = today); absent days are 0."""
    age = today - days
    ok = (days >= 0) & (age >= 0) & (age < REACH_DAYS)
    out = np.zeros((days.shape[0], len(_ROWS), REACH_DAYS))
    rows, slots = np.nonzero(ok)
    out[rows, :, age[rows, slots]] = counts[:, _ROWS, :][rows, :, slots]
    return out


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
    first_day = np.floor(begin / DAY_S)
    observed = today - np.arange(REACH_DAYS)[None, :] >= first_day[:, None]
    # Rows: observed days, minutes, chunk seconds, rebuffer seconds; one cumulative sum by age.
    x = np.concatenate([observed[:, None, :], _by_age(days, counts, today)], axis=1)
    x[:, 1] /= 60.0
    cs = np.concatenate([np.zeros((*x.shape[:2], 1)), np.cumsum(x, axis=2)], axis=2)
    k = np.arange(PERIOD_DAYS)

    def window(lo: int, hi: int) -> np.ndarray:
        # (n, 4, PERIOD_DAYS): column k sums ages k+lo..k+hi (clipped to the reach)
        return (
            cs[:, :, np.minimum(k + hi + 1, REACH_DAYS)] - cs[:, :, np.minimum(k + lo, REACH_DAYS)]
        )

    def mean(w: np.ndarray) -> np.ndarray:
        return w[:, 1] / np.maximum(w[:, 0], 1.0)

    recent, before = window(*RECENT), window(*BEFORE)
    decline = np.where(
        (recent[:, 0] > 0) & (before[:, 0] > 0),
        np.maximum(0.0, np.log((mean(before) + FLOOR_MIN) / (mean(recent) + FLOOR_MIN))),
        0.0,
    )
    level = np.log(mean(window(0, LEVEL_DAYS - 1)) + FLOOR_MIN)
    quality = window(0, REBUFFER_DAYS - 1)
    rb, ch = quality[:, 3], quality[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rb / (rb + ch)
    rebuffer = np.where(ch > 0, np.log(np.maximum(ratio, 1e-6) / TYPICAL_REBUFFER), 0.0)
    # Average over the period's days the user was observed (today always counts).
    days_ok = observed[:, :PERIOD_DAYS].astype(np.float64)
    days_ok[:, 0] = 1.0
    n_ok = days_ok.sum(axis=1)
    return np.stack([(v * days_ok).sum(axis=1) / n_ok for v in (decline, level, rebuffer)], axis=1)


def period_values(days: np.ndarray, counts: np.ndarray, begin: float, now: float) -> list[float]:
    """One user's :func:`period_matrix` row (``days`` ``(ring,)``, ``counts`` ``(N_COUNTERS, ring)``)
    in scalar Python: ~10x cheaper than the numpy path for one user (a test holds them equal)."""
    today = int(now // DAY_S)
    first_day = math.floor(begin / DAY_S)
    reach = REACH_DAYS
    mins, chunk, rebuf = [0.0] * reach, [0.0] * reach, [0.0] * reach
    w, c, r = (counts[i].tolist() for i in _ROWS)
    for slot, day in enumerate(days.tolist()):
        age = today - day
        if day >= 0 and 0 <= age < reach:
            mins[age], chunk[age], rebuf[age] = w[slot] / 60.0, c[slot], r[slot]
    n_obs = max(0, min(reach, today - first_day + 1))  # ages 0..n_obs-1 are observed
    cm, cc, cr = [0.0], [0.0], [0.0]
    for a in range(reach):
        cm.append(cm[-1] + mins[a])
        cc.append(cc[-1] + chunk[a])
        cr.append(cr[-1] + rebuf[a])

    def span(lo: int, hi: int) -> tuple[int, int, int]:
        a, b = min(lo, reach), min(hi + 1, reach)
        return a, b, max(0, min(b, n_obs) - a)

    tot = [0.0, 0.0, 0.0]
    n_days = 0
    for k in range(PERIOD_DAYS):
        if k >= n_obs and k > 0:
            continue
        n_days += 1
        a, b, n = span(k + RECENT[0], k + RECENT[1])
        a2, b2, n2 = span(k + BEFORE[0], k + BEFORE[1])
        if n > 0 and n2 > 0:
            recent = (cm[b] - cm[a]) / n
            before = (cm[b2] - cm[a2]) / n2
            tot[0] += max(0.0, math.log((before + FLOOR_MIN) / (recent + FLOOR_MIN)))
        a, b, n = span(k, k + LEVEL_DAYS - 1)
        tot[1] += math.log((cm[b] - cm[a]) / max(n, 1) + FLOOR_MIN)
        a, b, _ = span(k, k + REBUFFER_DAYS - 1)
        ch, rb = cc[b] - cc[a], cr[b] - cr[a]
        if ch > 0:
            tot[2] += math.log(max(rb / (rb + ch), 1e-6) / TYPICAL_REBUFFER)
    return [v / n_days for v in tot]
