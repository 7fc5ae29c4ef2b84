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
from services.simulator.stats import arm_figures, experiment_readout


def _experiment(
    fleet: Fleet, attr: str, control: str, treatment: str, now_s: float
) -> dict[str, Any]:
    v = fleet.viewers
    signed = [u for u, s in enumerate(v.states) if s.active]
    arms = {
        name: np.asarray([u for u in signed if getattr(v.states[u], attr) == name], dtype=np.int64)
        for name in (control, treatment)
    }
    values = {name: v.stats.per_user(users, now_s) for name, users in arms.items()}
    return {
        "control": control,
        "treatment": treatment,
        "arms": {name: arm_figures(vals) for name, vals in values.items()},
        "lift": experiment_readout(values[control], values[treatment]),
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
            "recommendation": _experiment(fleet, "rec_arm", REC_POPULARITY, REC_LEARNED, now_s),
            "abr": _experiment(fleet, "abr_arm", ABR_BUFFER_BASED, ABR_LEARNED, now_s),
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
