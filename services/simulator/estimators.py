"""Sensitive, honest experiment estimators: user-clustered ratio lifts, strata, CUPED.

Three standard tools, each valid for the design it is used with:

- :func:`ratio_lift` -- the difference of two ratio metrics (stall seconds per
  second played, kbps per second fetched, hours per session, finds per visit),
  each a ratio of sums over users, with a delta-method 95% interval computed
  from per-user influence values. The user is the independent unit (the
  cluster), so the interval is right whether every session of a user is in one
  arm (per-user randomisation) or a user's sessions are split between arms (per-
  session randomisation: then one user's two arm totals are paired and their
  covariance enters the variance, which is what makes the design sensitive).
  Deng, Knoblich and Lu (KDD 2018), "Applying the delta method in metric
  analytics".
- :func:`stratified` -- post-stratification: the lift estimated within each
  stratum of a pre-treatment attribute (the viewer's network class) and
  combined with fixed weights; variance is the weighted sum of the strata's
  variances. Valid because the attribute cannot depend on the arm. Miratrix,
  Sekhon and Yu (JRSS-B 2013).
- :func:`cuped_lift` -- CUPED (Deng, Xu, Kohavi and Walker, WSDM 2013): subtract
  ``theta (x - mean x)`` from each user's metric, where ``x`` are covariates
  measured *before* the user's arm took effect (the run's pre-period) and
  ``theta`` is the pooled least-squares slope. The arm is independent of ``x``,
  so the adjusted difference is unbiased (to O(1/n)) for the same effect, with
  variance shrunk by the share of variance ``x`` explains.

>>> rng = np.random.default_rng(0)
>>> x = rng.gamma(2.0, 1.0, 4000)                     # pre-period activity
>>> arm = rng.random(4000) < 0.5
>>> y = 2.0 * x + rng.normal(0.0, 0.5, 4000) + 0.1 * arm   # known lift 0.1
>>> plain = cuped_lift(y[~arm], y[arm], np.zeros((0, 1)), np.zeros((0, 1)))
>>> adj = cuped_lift(y[~arm], y[arm], x[~arm, None], x[arm, None])
>>> bool(plain.lo < 0 < plain.hi), bool(adj.lo > 0), adj.hi - adj.lo < (plain.hi - plain.lo) / 4
(True, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from services.simulator.stats import t_quantile_975


@dataclass(frozen=True)
class Estimate:
    """Treatment minus control of one metric with its 95% interval and how it was estimated."""

    control: float
    treatment: float
    diff: float
    se: float
    df: float  # degrees of freedom of the t quantile
    method: str
    units: int  # independent units (users) behind the interval

    @property
    def lo(self) -> float:
        """Lower end of the 95% interval."""
        return self.diff - t_quantile_975(self.df) * self.se

    @property
    def hi(self) -> float:
        """Upper end of the 95% interval."""
        return self.diff + t_quantile_975(self.df) * self.se

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return math.isfinite(self.lo) and (self.lo > 0 or self.hi < 0)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, with the keys of :meth:`Lift.as_dict` (so one table renders both)."""

        def clean(x: float) -> float | None:
            return None if not math.isfinite(x) else round(x, 6)

        rel = self.diff / self.control if self.control else math.nan
        rel_lo = self.lo / self.control if self.control else math.nan
        rel_hi = self.hi / self.control if self.control else math.nan
        return {
            "control_mean": clean(self.control),
            "treatment_mean": clean(self.treatment),
            "diff": clean(self.diff),
            "ci95": [clean(self.lo), clean(self.hi)],
            "relative": clean(rel),
            "relative_ci95": [clean(rel_lo), clean(rel_hi)],
            "significant": self.significant,
            "method": self.method,
            "units": self.units,
        }


def _nan_estimate(method: str, units: int) -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, math.nan, 1.0, method, units)


def ratio_lift(
    num_c: np.ndarray,
    den_c: np.ndarray,
    num_t: np.ndarray,
    den_t: np.ndarray,
    method: str = "ratio of sums, delta method clustered by user",
) -> Estimate:
    """``sum(num_t)/sum(den_t) - sum(num_c)/sum(den_c)`` with a user-clustered delta-method CI.

    The four arrays are aligned per user (row ``i`` is one user's totals in each
    arm; zeros where the user had nothing in that arm). A user's influence on the
    difference is ``(n_t - R_t d_t)/mean(d_t) - (n_c - R_c d_c)/mean(d_c)``; the
    variance of the difference is the variance of the mean influence. Pairing a
    user's two arms makes between-user differences cancel.

    >>> est = ratio_lift(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40]),
    ...                  np.array([2.0, 4, 6, 8]), np.array([10.0, 20, 30, 40]))
    >>> round(est.diff, 6), round(est.lo, 6), round(est.hi, 6)
    (0.1, 0.1, 0.1)
    """
    nc, dc, nt, dt = (np.asarray(a, dtype=float) for a in (num_c, den_c, num_t, den_t))
    keep = (dc > 0) | (dt > 0)  # users with nothing in either arm carry no information
    nc, dc, nt, dt = nc[keep], dc[keep], nt[keep], dt[keep]
    users = n = len(nc)
    mdc, mdt = dc.mean() if n else 0.0, dt.mean() if n else 0.0
    if n < 2 or mdc <= 0 or mdt <= 0:
        return _nan_estimate(method, users)
    rc, rt = nc.mean() / mdc, nt.mean() / mdt
    psi = (nt - rt * dt) / mdt - (nc - rc * dc) / mdc
    se = math.sqrt(float(psi.var(ddof=1)) / n)
    return Estimate(float(rc), float(rt), float(rt - rc), se, max(users - 1, 1), method, users)


def stratified(parts: Mapping[str, Estimate], weights: Mapping[str, float]) -> Estimate:
    """Combine per-stratum estimates with fixed weights (normalised over usable strata).

    Strata whose interval is undefined (too few users) are left out of the
    combination and their weight goes to the others; the method names them.

    >>> a = Estimate(1.0, 2.0, 1.0, 0.5, 1e9, "m", 10)
    >>> b = Estimate(1.0, 4.0, 3.0, 0.5, 1e9, "m", 10)
    >>> est = stratified({"a": a, "b": b}, {"a": 0.5, "b": 0.5})
    >>> est.diff, round(est.se, 4)  # se = sqrt(0.25 * 0.25 + 0.25 * 0.25)
    (2.0, 0.3536)
    """
    usable = {s: e for s, e in parts.items() if math.isfinite(e.se) and weights.get(s, 0) > 0}
    dropped = sorted(set(parts) - set(usable))
    total = sum(weights[s] for s in usable)
    method = "post-stratified by " + "/".join(sorted(usable))
    if dropped:
        method += f" (too few users: {'/'.join(dropped)})"
    units = sum(e.units for e in usable.values())
    if not usable or total <= 0:
        return _nan_estimate(method, units)
    w = {s: weights[s] / total for s in usable}
    diff = sum(w[s] * e.diff for s, e in usable.items())
    parts_var = {s: (w[s] * e.se) ** 2 for s, e in usable.items()}
    var = sum(parts_var.values())
    # Satterthwaite: a small, noisy stratum (a few 3G viewers) dominates the variance, so the
    # interval gets that stratum's few degrees of freedom rather than the total user count's.
    denom = sum(v**2 / usable[s].df for s, v in parts_var.items())
    df = var**2 / denom if denom > 0 else float(max(units - len(usable), 1))
    control = sum(w[s] * e.control for s, e in usable.items())
    treatment = sum(w[s] * e.treatment for s, e in usable.items())
    return Estimate(control, treatment, diff, math.sqrt(var), df, method, units)


def cuped_theta(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Least-squares slope(s) of ``y`` on the covariates ``x`` (both arms pooled, centred)."""
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    theta, *_ = np.linalg.lstsq(xc, yc, rcond=None)
    out: np.ndarray = theta
    return out


def cuped_lift(
    y_c: np.ndarray, y_t: np.ndarray, x_c: np.ndarray, x_t: np.ndarray, method: str = "CUPED"
) -> Estimate:
    """Welch interval on CUPED-adjusted per-user values (no usable covariate: plain Welch).

    ``x_c`` / ``x_t`` are (users, k) pre-period covariates. The arm means shown
    are the raw ones; the difference and its interval are the adjusted ones.
    """
    y_c, y_t = np.asarray(y_c, dtype=float), np.asarray(y_t, dtype=float)
    mc = float(y_c.mean()) if len(y_c) else math.nan
    mt = float(y_t.mean()) if len(y_t) else math.nan
    n = len(y_c) + len(y_t)
    a, b = y_c, y_t
    x = np.concatenate([x_c, x_t]).astype(float) if x_c.ndim == 2 else np.zeros((0, 0))
    if x.shape[0] == n and x.shape[1] and n > x.shape[1] + 2 and float(x.var(axis=0).sum()) > 0:
        y = np.concatenate([y_c, y_t])
        adj = y - (x - x.mean(axis=0)) @ cuped_theta(y, x)
        a, b = adj[: len(y_c)], adj[len(y_c) :]
    else:
        method = "difference of means (Welch)"
    if len(a) < 2 or len(b) < 2:
        return Estimate(mc, mt, mt - mc, math.nan, 1.0, method, n)
    va, vb = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1e9
    return Estimate(mc, mt, float(b.mean() - a.mean()), se, df, method, n)
