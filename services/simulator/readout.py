"""The experiment read-out: each metric with the estimator its design makes valid and sensitive.

Primary metrics are fixed here, before any run (no picking the estimator that
happens to come out significant):

Recommendation (arm per user; before ``rec_start_s`` everyone got popularity):

- ``hours_per_user``: content hours of the experiment period per user, CUPED
  on the user's pre-period hours, visits and finds (all measured before the
  arms diverged, so independent of the arm). Primary.
- ``hours_per_visit`` (hours started from a home screen) and
  ``found_share``, ``shown_taste``: ratios over the experiment period's home
  screens, delta-method intervals clustered by user (a user's screens are not
  independent; the user is the randomised unit).
- ``hours_per_user_plain``: the same hours without CUPED, to show what the
  covariate buys; ``cancelled``: share of users who cancelled.

ABR (arm per playback session, so each user has sessions in both arms):

- ``rebuffer_ratio`` (stall / (stall + play) seconds), ``bitrate_kbps`` (per
  second fetched), ``hours_per_session``: ratios of sums, the user-paired
  delta method within each network class, post-stratified with the classes'
  shares of playback time (stalls concentrate on a few weak networks, whose
  noise would otherwise swamp the rest). Primary. ``[network]`` rows show each
  class; ``_unstratified`` rows the same estimator over all users at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reelstream.common.v1 import types_pb2 as types
from services.simulator.estimators import Estimate, cuped_lift, ratio_lift, stratified
from services.simulator.stats import UserStats


def _split(values: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-user values as (control column, treatment column): zero where not in that arm."""
    return np.where(treated, 0.0, values), np.where(treated, values, 0.0)


def _ratio(num: np.ndarray, den: np.ndarray, treated: np.ndarray, method: str) -> Estimate:
    nc, nt = _split(num, treated)
    dc, dt = _split(den, treated)
    return ratio_lift(nc, dc, nt, dt, method)


def rec_readout(
    stats: UserStats, control: np.ndarray, treatment: np.ndarray, now_s: float
) -> dict[str, Estimate]:
    """Recommendation lifts (treatment - control) over the experiment period."""
    users = np.concatenate([control, treatment])
    treated = np.concatenate([np.zeros(len(control), bool), np.ones(len(treatment), bool)])
    watched, pre_watched = stats.since_pre("watched_s", users)
    visits, pre_visits = stats.since_pre("visits", users)
    sittings, _ = stats.since_pre("sittings", users)
    found, pre_found = stats.since_pre("found", users)
    shown, _ = stats.since_pre("shown_taste", users)
    hours = watched / 3600.0
    covariates = np.column_stack([pre_watched / 3600.0, pre_visits, pre_found])
    if stats.pre is None or not covariates.any():
        covariates = np.zeros((len(users), 0))
    c, t = ~treated, treated
    per_visit = "per home screen, ratio of sums, delta method clustered by user"
    cancelled = (~np.isnan(np.asarray(stats.cancel_s)[users])).astype(float)
    return {
        "hours_per_user": cuped_lift(
            hours[c],
            hours[t],
            covariates[c],
            covariates[t],
            "CUPED on pre-period hours, visits, finds",
        ),
        "hours_per_user_plain": cuped_lift(
            hours[c], hours[t], np.zeros((int(c.sum()), 0)), np.zeros((int(t.sum()), 0))
        ),
        "hours_per_sitting": _ratio(
            hours, sittings, treated, "per sitting, ratio of sums, delta method clustered by user"
        ),
        "hours_per_visit": _ratio(hours, visits, treated, per_visit),
        "found_share": _ratio(found, visits, treated, per_visit),
        "shown_taste": _ratio(shown, visits, treated, per_visit),
        "cancelled": cuped_lift(
            cancelled[c], cancelled[t], np.zeros((int(c.sum()), 0)), np.zeros((int(t.sum()), 0))
        ),
    }


ABR_METRICS = {
    # name: (numerator, denominator) of per-user, per-arm totals
    "rebuffer_ratio": ("rebuffer_s", "played_s"),
    "bitrate_kbps": ("kbps_s", "downloaded_s"),
    "hours_per_session": ("watched_h", "sessions"),
}


def network_name(network: int) -> str:
    """``NETWORK_TYPE_CELLULAR_3G`` -> ``cellular_3g``.

    >>> network_name(types.NETWORK_TYPE_WIFI)
    'wifi'
    """
    return types.NetworkType.Name(network).removeprefix("NETWORK_TYPE_").lower()  # type: ignore[arg-type]


def abr_readout(
    stats: UserStats, users: np.ndarray, network: np.ndarray, control: str, treatment: str
) -> dict[str, Estimate]:
    """ABR lifts (treatment - control), sessions randomised, users paired, strata by network."""
    arms = {}
    for name in (control, treatment):
        a = stats.arm(name).arrays(users)
        a["played_s"] = a["watched_s"] + a["rebuffer_s"]
        a["watched_h"] = a["watched_s"] / 3600.0
        arms[name] = a
    c, t = arms[control], arms[treatment]
    time_s = c["played_s"] + t["played_s"]
    classes = sorted({int(x) for x in network.tolist()})
    out: dict[str, Estimate] = {}
    for metric, (num, den) in ABR_METRICS.items():
        parts: dict[str, Estimate] = {}
        weights: dict[str, float] = {}
        for k in classes:
            m = network == k
            name = network_name(k)
            parts[name] = ratio_lift(
                c[num][m], c[den][m], t[num][m], t[den][m], "user-paired ratio, delta method"
            )
            weights[name] = float(time_s[m].sum())
        out[metric] = stratified(parts, weights)
        out[f"{metric}_unstratified"] = ratio_lift(
            c[num], c[den], t[num], t[den], "user-paired ratio of sums, delta method"
        )
        if metric == "rebuffer_ratio":
            out.update({f"rebuffer_ratio[{s}]": e for s, e in parts.items()})
    return out


def arm_totals(stats: UserStats, users: np.ndarray, arm: str) -> dict[str, Any]:
    """Pooled figures of one ABR arm: sessions, hours, stall ratio, bitrate."""
    a = stats.arm(arm).arrays(users)
    played = float(a["watched_s"].sum() + a["rebuffer_s"].sum())
    fetched = float(a["downloaded_s"].sum())
    return {
        "sessions": int(a["sessions"].sum()),
        "users_with_sessions": int((a["sessions"] > 0).sum()),
        "hours": round(float(a["watched_s"].sum()) / 3600.0, 3),
        "rebuffer_ratio": round(float(a["rebuffer_s"].sum()) / played, 6) if played else None,
        "bitrate_kbps": round(float(a["kbps_s"].sum()) / fetched, 1) if fetched else None,
    }


def as_json(lifts: dict[str, Estimate]) -> dict[str, dict[str, object]]:
    """JSON-ready lifts (NaN -> None)."""
    return {k: e.as_dict() for k, e in lifts.items()}


def significant(lifts: dict[str, Estimate]) -> list[str]:
    """Names of the metrics whose interval excludes zero.

    >>> significant({"a": Estimate(1, 2, 1, 0.1, 50, "m", 9), "b": Estimate(1, 1, 0, 1, 50, "m", 9)})
    ['a']
    """
    return [k for k, e in lifts.items() if e.significant and math.isfinite(e.lo)]
