"""Per-user outcome accumulators and the experiment read-out: arm means, lifts, 95% CIs.

The user is the randomisation unit, so every figure is a mean over users of a
per-user value, and a lift's confidence interval is Welch's t-interval on the
difference of two such means (no equal-variance assumption).

>>> lo, hi = welch_ci([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0])[1:]
>>> round(lo, 3), round(hi, 3)
(-0.234, 4.234)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z975 = 1.959963984540054


def t_quantile_975(df: float) -> float:
    """Two-sided 95% Student-t quantile (Cornish-Fisher series; < 0.1% error for df >= 5).

    >>> round(t_quantile_975(10), 3), round(t_quantile_975(30), 3), round(t_quantile_975(1e9), 3)
    (2.228, 2.042, 1.96)
    """
    if df <= 0 or not math.isfinite(df):
        return Z975
    z = Z975
    z3, z5, z7, z9 = z**3, z**5, z**7, z**9
    return (
        z
        + (z3 + z) / (4 * df)
        + (5 * z5 + 16 * z3 + 3 * z) / (96 * df**2)
        + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df**3)
        + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df**4)
    )


def welch_ci(control: Sequence[float], treatment: Sequence[float]) -> tuple[float, float, float]:
    """``mean(treatment) - mean(control)`` with its Welch 95% interval (nan if too few users)."""
    a = np.asarray(control, dtype=float)
    b = np.asarray(treatment, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return (float(b.mean() - a.mean()) if len(a) and len(b) else math.nan, math.nan, math.nan)
    va, vb = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    diff = float(b.mean() - a.mean())
    se = math.sqrt(float(va + vb))
    if se == 0.0:
        return diff, diff, diff
    df = float(va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile_975(df) * se
    return diff, diff - half, diff + half


@dataclass
class Lift:
    """Treatment minus control, absolute and relative to the control mean, with 95% CIs."""

    control_mean: float
    treatment_mean: float
    diff: float
    ci95: tuple[float, float]
    relative: float
    relative_ci95: tuple[float, float]

    @classmethod
    def of(cls, control: Sequence[float], treatment: Sequence[float]) -> Lift:
        """Welch interval on the difference; the relative one divides it by the control mean.

        (Treating the control mean as fixed: fine with hundreds of users per arm.)

        >>> lift = Lift.of([1.0, 1.2, 0.8, 1.0], [1.5, 1.7, 1.3, 1.5])
        >>> round(lift.diff, 3), round(lift.relative, 3)
        (0.5, 0.5)
        """
        diff, lo, hi = welch_ci(control, treatment)
        c = float(np.mean(control)) if len(control) else math.nan
        t = float(np.mean(treatment)) if len(treatment) else math.nan

        def rel(x: float) -> float:
            return x / c if c != 0.0 and math.isfinite(c) else math.nan

        return cls(c, t, diff, (lo, hi), rel(diff), (rel(lo), rel(hi)))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (NaN becomes None)."""

        def clean(x: float) -> float | None:
            return None if not math.isfinite(x) else round(x, 6)

        return {
            "control_mean": clean(self.control_mean),
            "treatment_mean": clean(self.treatment_mean),
            "diff": clean(self.diff),
            "ci95": [clean(self.ci95[0]), clean(self.ci95[1])],
            "relative": clean(self.relative),
            "relative_ci95": [clean(self.relative_ci95[0]), clean(self.relative_ci95[1])],
            "significant": bool(
                math.isfinite(self.ci95[0]) and (self.ci95[0] > 0 or self.ci95[1] < 0)
            ),
        }


class ArmTotals:
    """One arm's per-user playback totals (for per-session arms: each user has both)."""

    def __init__(self, n: int) -> None:
        self.watched_s = [0.0] * n
        self.rebuffer_s = [0.0] * n
        self.kbps_s = [0.0] * n
        self.downloaded_s = [0.0] * n
        self.sessions = [0] * n

    def arrays(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """Per-user totals of ``users`` as arrays."""
        return {
            "watched_s": np.asarray(self.watched_s)[users],
            "rebuffer_s": np.asarray(self.rebuffer_s)[users],
            "kbps_s": np.asarray(self.kbps_s)[users],
            "downloaded_s": np.asarray(self.downloaded_s)[users],
            "sessions": np.asarray(self.sessions, dtype=float)[users],
        }


PRE_FIELDS = ("watched_s", "visits", "sittings", "found", "titles", "shown_taste", "picked_taste")


class UserStats:
    """Running totals per user (Python lists: cheap scalar updates on the hot path).

    Two additions serve the sensitive read-out (:mod:`services.simulator.readout`):
    per-ABR-arm totals (sessions draw their own ABR arm, so a user has both), and
    a snapshot of the totals when the recommendation pre-period ends
    (:meth:`end_pre_period`), so the experiment's own outcomes are the totals
    minus the snapshot and the snapshot is a pre-treatment covariate.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.watched_s = [0.0] * n  # content seconds played
        self.rebuffer_s = [0.0] * n
        self.kbps_s = [0.0] * n  # sum of bitrate x content seconds downloaded
        self.downloaded_s = [0.0] * n
        self.titles = [0] * n
        self.visits = [0] * n
        self.sittings = [0] * n  # app opens that start a sitting (visits minus returns to home)
        self.found = [0] * n  # visits that ended in a pick
        self.shown_taste = [0.0] * n  # sum over visits of the mean hidden taste of what was shown
        self.picked_taste = [0.0] * n  # sum of the hidden taste of what was picked
        self.signup_s = [math.nan] * n
        self.cancel_s = [math.nan] * n
        self.abr: dict[str, ArmTotals] = {}
        self.pre: dict[str, np.ndarray] | None = None  # totals when the pre-period ended

    def chunk(
        self,
        u: int,
        played_s: float,
        rebuffer_s: float,
        kbps: int,
        chunk_s: float,
        abr_arm: str | None = None,
    ) -> None:
        """One chunk downloaded and what played meanwhile (and under which ABR arm)."""
        self.watched_s[u] += played_s
        self.rebuffer_s[u] += rebuffer_s
        self.kbps_s[u] += kbps * chunk_s
        self.downloaded_s[u] += chunk_s
        if abr_arm is not None:
            a = self.arm(abr_arm)
            a.watched_s[u] += played_s
            a.rebuffer_s[u] += rebuffer_s
            a.kbps_s[u] += kbps * chunk_s
            a.downloaded_s[u] += chunk_s

    def arm(self, abr_arm: str) -> ArmTotals:
        """The per-user totals of one ABR arm (created on first use)."""
        a = self.abr.get(abr_arm)
        if a is None:
            a = self.abr[abr_arm] = ArmTotals(self.n)
        return a

    def session(self, u: int, abr_arm: str) -> None:
        """A playback session started under ``abr_arm``."""
        self.arm(abr_arm).sessions[u] += 1

    def end_pre_period(self) -> None:
        """Snapshot the totals the pre-period covariates come from (once)."""
        if self.pre is None:
            self.pre = {f: np.asarray(getattr(self, f), dtype=float).copy() for f in PRE_FIELDS}

    def since_pre(self, field: str, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(experiment-period total, pre-period total) of ``field`` for ``users``."""
        now = np.asarray(getattr(self, field), dtype=float)[users]
        pre = self.pre[field][users] if self.pre is not None else np.zeros(len(users))
        return now - pre, pre

    def visit(self, u: int, shown_taste: float | None, picked_taste: float | None) -> None:
        """One app visit: the hidden relevance of what was shown, and of the pick (if any)."""
        self.visits[u] += 1
        if shown_taste is not None:
            self.shown_taste[u] += shown_taste
        if picked_taste is not None:
            self.found[u] += 1
            self.picked_taste[u] += picked_taste

    def per_user(self, users: np.ndarray, now_s: float) -> dict[str, np.ndarray]:
        """Per-user outcome vectors for ``users`` (signed-up ones) at time ``now_s``."""
        w = np.asarray(self.watched_s)[users]
        r = np.asarray(self.rebuffer_s)[users]
        k = np.asarray(self.kbps_s)[users]
        d = np.asarray(self.downloaded_s)[users]
        signup = np.asarray(self.signup_s)[users]
        cancel = np.asarray(self.cancel_s)[users]
        end = np.where(np.isnan(cancel), now_s, cancel)
        days = np.maximum((end - signup) / 86_400.0, 1.0 / 24.0)
        played = d > 0
        visits = np.asarray(self.visits, dtype=float)[users]
        found = np.asarray(self.found, dtype=float)[users]
        shown = np.asarray(self.shown_taste)[users]
        picked = np.asarray(self.picked_taste)[users]
        with np.errstate(invalid="ignore", divide="ignore"):
            relevance = {
                "found_share": np.where(visits > 0, found / visits, np.nan),
                "shown_taste": np.where(visits > 0, shown / visits, np.nan),
                "picked_taste": np.where(found > 0, picked / found, np.nan),
            }
        return {
            **relevance,
            "hours": w / 3600.0,
            "hours_per_day": w / 3600.0 / days,
            "rebuffer_ratio": np.where(played, r / np.maximum(r + w, 1e-9), np.nan),
            "bitrate_kbps": np.where(played, k / np.maximum(d, 1e-9), np.nan),
            "cancelled": (~np.isnan(cancel)).astype(float),
            "totals": np.array([w.sum(), r.sum(), k.sum(), d.sum()]),  # watched, stall, kbps*s, s
        }


METRICS = (
    "hours",
    "hours_per_day",
    "rebuffer_ratio",
    "bitrate_kbps",
    "cancelled",
    "found_share",  # share of app visits where the viewer found something to play
    "shown_taste",  # hidden relevance of what the rows showed (the simulator's ground truth)
    "picked_taste",  # hidden relevance of what was picked
)


def arm_figures(values: dict[str, np.ndarray]) -> dict[str, object]:
    """Mean of each per-user metric (over users where it is defined) and user counts."""
    out: dict[str, object] = {"users": len(values["hours"])}
    for m in METRICS:
        v = values[m][~np.isnan(values[m])]
        out[m] = round(float(v.mean()), 6) if len(v) else None
    out["users_with_playback"] = int((~np.isnan(values["bitrate_kbps"])).sum())
    # Pooled ratios (sum over users / sum over users): robust to a few heavy-tailed users.
    tot = values["totals"]
    out["pooled_rebuffer_ratio"] = _ratio(tot[1], tot[1] + tot[0])
    out["pooled_bitrate_kbps"] = _ratio(tot[2], tot[3])
    return out


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 6) if b > 0 else None


def experiment_readout(
    control: dict[str, np.ndarray], treatment: dict[str, np.ndarray]
) -> dict[str, dict[str, object]]:
    """Lift (treatment - control) of every metric with its 95% CI."""
    out = {}
    for m in METRICS:
        a, b = control[m], treatment[m]
        out[m] = Lift.of(a[~np.isnan(a)].tolist(), b[~np.isnan(b)].tolist()).as_dict()
    return out
