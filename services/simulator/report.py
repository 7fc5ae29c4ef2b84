"""The run summary: per-arm figures, lifts with 95% CIs, and what the run did."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from services.simulator.arms import ABR_BUFFER_BASED, ABR_LEARNED, REC_LEARNED, REC_POPULARITY
from services.simulator.clock import SimClock
from services.simulator.fleet import Fleet
from services.simulator.readout import abr_readout, arm_totals, as_json, rec_readout, significant
from services.simulator.stats import arm_figures


def _signed(fleet: Fleet) -> np.ndarray:
    return np.asarray([u for u, s in enumerate(fleet.viewers.states) if s.active], dtype=np.int64)


def _recommendation(fleet: Fleet, now_s: float) -> dict[str, Any]:
    """Arm per user; the experiment period starts when the pre-period ends."""
    v, signed = fleet.viewers, _signed(fleet)
    arms = {
        name: signed[[v.states[u].rec_arm == name for u in signed.tolist()]]
        for name in (REC_POPULARITY, REC_LEARNED)
    }
    lifts = rec_readout(v.stats, arms[REC_POPULARITY], arms[REC_LEARNED], now_s)
    start = v.assignment.rec_start_s
    return {
        "control": REC_POPULARITY,
        "treatment": REC_LEARNED,
        "design": "arm per user; everyone on popularity before the experiment period",
        "experiment_start_ms": int(start * 1000) if np.isfinite(start) else None,
        "pre_period_ended": v.stats.pre is not None and bool(np.isfinite(start)),
        "arms": {  # whole-run per-user means (pre-period included), for orientation
            name: arm_figures(v.stats.per_user(users, now_s)) for name, users in arms.items()
        },
        "lift": as_json(lifts),
        "significant": significant(lifts),
    }


def _abr(fleet: Fleet) -> dict[str, Any]:
    """Arm per playback session: every user has both arms."""
    v, signed = fleet.viewers, _signed(fleet)
    lifts = abr_readout(v.stats, signed, v.pop.network[signed], ABR_BUFFER_BASED, ABR_LEARNED)
    # Intention to treat: a learned session whose service call failed played that chunk with
    # BBA (the app's fallback) and still counts as learned; this says how often that happened.
    asked = v.abr_decisions["service"] + v.abr_decisions["fallback_bba"]
    return {
        "control": ABR_BUFFER_BASED,
        "treatment": ABR_LEARNED,
        "design": "arm per playback session "
        f"(learned share {v.assignment.abr_learned_share:g}); users paired; strata by network",
        "arms": {
            name: arm_totals(v.stats, signed, name) for name in (ABR_BUFFER_BASED, ABR_LEARNED)
        },
        "learned_chunks_decided_by_service": round(v.abr_decisions["service"] / asked, 4)
        if asked
        else None,
        "lift": as_json(lifts),
        "significant": significant(lifts),
    }


def summary(fleet: Fleet, clock: SimClock, real_s: float, unsent: int) -> dict[str, Any]:
    """Everything the run measured, JSON-ready."""
    v = fleet.viewers
    now_s = fleet.frontier()
    sent = dict(fleet.sink.sent)
    total = sum(sent.values())
    return {
        "run": {
            "real_seconds": round(real_s, 3),
            "sim_start_ms": int(clock.start * 1000),
            "sim_end_ms": int(now_s * 1000),
            "sim_days": round((now_s - clock.start) / 86_400.0, 4),
            "speed_target": clock.speed,
            "speed_achieved": round((now_s - clock.start) / max(real_s, 1e-9), 1),
            "users_signed_up": sum(s.active for s in v.states),
            "users_cancelled": sum(s.cancelled for s in v.states),
            "actions": fleet.actions,
            "action_errors": fleet.action_errors,
            "backpressure_seconds": round(fleet.backpressure_s, 3),
            "slowest_action_seconds": round(fleet.slowest_action_s, 3),
            "events_acked": total,
            "events_per_s": round(total / max(real_s, 1e-9), 1),
            "events_by_kind": sent,
            "events_rejected": dict(fleet.sink.rejected),
            "events_unsent": unsent,
            "telemetry_stream_failures": fleet.sink.stream_failures,
            "rpc": {
                c.service: {
                    "calls": c.calls,
                    "errors": c.errors,
                    "errors_by_code": dict(c.error_codes),
                    "fallbacks": c.fallbacks,
                    "latency_ms": c.latency_ms(),
                }
                for c in (v.svc.rec, v.svc.abr)
            },
            "abr_decisions": dict(v.abr_decisions),
            "catalog_published": fleet.cms.published if fleet.cms is not None else 0,
            "catalog_unpublished": len(fleet.cms.pending) if fleet.cms is not None else 0,
        },
        "experiments": {
            "recommendation": _recommendation(fleet, now_s),
            "abr": _abr(fleet),
        },
    }


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def write_summary(path: Path, data: dict[str, Any]) -> None:
    """Write the summary atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
