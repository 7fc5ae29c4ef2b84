"""The recommendation experiment in one process: the simulator's audience against the real model.

``python -m bench.reco_arms [--users N] [--titles N] [--days D] [--seeds 7,8] [--layout
service|model] [--out DIR]`` (defaults: ``make run``'s 1000 users and 3000 titles, the
6.25 simulated days of a 3-minute run at speed 3000, two worlds).

The simulator's own world, viewers, daily tick (churn, signups, releases) and
choice model run exactly as in ``make run``; only the transport is replaced:

- every playback event a viewer emits goes straight to the recommendation
  service's :class:`RecoState.apply` (as the serialized record the consume loop
  would read), in emission order, with no Kafka lag; events that carry no
  feedback (chunks, heartbeats, pauses...) are dropped, which changes nothing in
  the model (``apply`` learns nothing from them);
- home rows come from :class:`RecommendationServicer.HomeRows` itself, called
  in-process (the same handler the gRPC server runs);
- the abr service is absent, so both recommendation arms play with client-side
  BBA (the simulator's fallback), which keeps playback identical across arms;
- the daily releases are published to the model the way the CMS does.

Simulated time runs as fast as the CPU allows (a heap of viewer actions, as in
the fleet), so a week of 1000 viewers takes a couple of minutes and the
result does not depend on machine load. Figures are per-user means per arm
with bootstrap 95% intervals, and the learned - popularity lift with the
Welch interval ``make run``'s report uses.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS, progress
from bench.reco_arms.report import write_report
from bench.reco_arms.world import RecordingStats, build_world, publish_titles
from services.simulator.arms import REC_LEARNED, REC_POPULARITY
from services.simulator.fleet import DAY_S, TICK
from services.simulator.stats import Lift

METRICS = ("found_share", "hours", "hours_per_day", "picked_taste", "shown_taste", "cancelled")


def bootstrap_ci(
    x: np.ndarray, rng: np.random.Generator, n_boot: int = 2000
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``x`` (resampling users).

    >>> lo, hi = bootstrap_ci(np.arange(100.0), np.random.default_rng(0))
    >>> 40 < lo < 49.5 < hi < 59
    True
    """
    if len(x) < 2:
        return (math.nan, math.nan)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    means = x[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (float(lo), float(hi))


async def simulate(
    users: int, titles: int, days: float, seed: int, model: dict[str, Any], layout: str
) -> dict[str, Any]:
    """One run: returns per-arm per-user values and diagnostics."""
    viewers, fleet, state, rec, sink = build_world(users, titles, days, seed, model, layout)
    start = fleet.clock.start
    end_t = start + days * DAY_S
    publish_titles(state, viewers.cat, viewers.cat.released_in(-np.inf, start + DAY_S))
    fleet.seed_schedule()
    heap = fleet.heap
    t0 = time.monotonic()
    next_note = t0 + 10.0
    while heap and heap[0][0] <= end_t:
        t, _, u = heapq.heappop(heap)
        fleet.sim_t = t
        fleet.actions += 1
        if u == TICK:
            fleet.day_tick(t)
            publish_titles(state, viewers.cat, viewers.cat.released_in(t, t + DAY_S))
            continue
        nt = await viewers.act(u, t)
        if nt is not None:
            fleet.push(nt, u)
        if time.monotonic() >= next_note:
            next_note = time.monotonic() + 10.0
            progress(
                f"seed {seed}: day {(t - start) / DAY_S:.2f}/{days:g}, "
                f"{fleet.actions} actions, {rec.calls} row requests"
            )
    now = min(end_t, fleet.sim_t)
    stats = viewers.stats
    assert isinstance(stats, RecordingStats)
    signed = [u for u, s in enumerate(viewers.states) if s.active]
    out: dict[str, Any] = {"seed": seed, "arms": {}, "real_s": time.monotonic() - t0}
    for arm in (REC_LEARNED, REC_POPULARITY):
        members = np.asarray([u for u in signed if viewers.states[u].rec_arm == arm], np.int64)
        diag = {**stats.diag(arm), **{f"clicks[{k}]": n for k, n in sink.clicks[arm].items()}}
        out["arms"][arm] = {"values": stats.per_user(members, now), "diag": diag}
    out["actions"] = fleet.actions
    out["row_requests"] = rec.calls
    out["hit_rate"] = state.hit_rate
    blend = state.model.blender
    out["blend_weights"] = dict(
        zip(blend.signals, np.round(blend.weights, 3).tolist(), strict=True)
    )
    return out


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the users of every seed (each seed is a fresh world: users are independent)."""
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"arms": {}, "lift": {}, "diagnostics": {}}
    pooled: dict[str, dict[str, np.ndarray]] = {}
    for arm in (REC_LEARNED, REC_POPULARITY):
        pooled[arm] = {
            m: np.concatenate([r["arms"][arm]["values"][m] for r in runs]) for m in METRICS
        }
        fig: dict[str, Any] = {"users": len(pooled[arm]["hours"])}
        for m in METRICS:
            v = pooled[arm][m][~np.isnan(pooled[arm][m])]
            lo, hi = bootstrap_ci(v, rng)
            fig[m] = {"mean": round(float(v.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)]}
        result["arms"][arm] = fig
        diag: Counter[str] = Counter()
        for r in runs:
            diag.update(r["arms"][arm]["diag"])
        result["diagnostics"][arm] = dict(diag)
    for m in METRICS:
        a = pooled[REC_POPULARITY][m]
        b = pooled[REC_LEARNED][m]
        lift = Lift.of(a[~np.isnan(a)].tolist(), b[~np.isnan(b)].tolist()).as_dict()
        result["lift"][m] = {k: lift[k] for k in ("diff", "ci95", "relative", "significant")}
    result["hit_rate"] = [round(r["hit_rate"], 4) for r in runs]
    result["blend_weights"] = [r["blend_weights"] for r in runs]
    result["real_s"] = round(sum(r["real_s"] for r in runs), 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--titles", type=int, default=3000)
    ap.add_argument("--days", type=float, default=6.25, help="simulated days (make run: 3 min)")
    ap.add_argument("--seeds", default="7,8", help="comma-separated world seeds (pooled)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--label", default="", help="names this run in the report")
    ap.add_argument("--signals", default="", help="ablation: Recommender signals, comma-separated")
    ap.add_argument("--pick-pairs", type=int, default=-1, help="ablation: Recommender pick_pairs")
    ap.add_argument(
        "--layout",
        choices=("service", "model"),
        default="service",
        help="learned rows from the servicer (as deployed) or from model.home.home_rows",
    )
    ap.add_argument("--render", type=Path, help="only rewrite the report from a saved JSON line")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text().strip().splitlines()[-1])
        write_report(saved, args.out)
        print(json.dumps(saved, sort_keys=True))
        return
    model: dict[str, Any] = {}
    if args.signals:
        model["signals"] = tuple(args.signals.split(","))
    if args.pick_pairs >= 0:
        model["pick_pairs"] = args.pick_pairs
    seeds = [int(s) for s in args.seeds.split(",") if s]
    runs = []
    for seed in seeds:
        progress(f"seed {seed}: {args.users} users, {args.titles} titles, {args.days:g} days")
        runs.append(
            asyncio.run(simulate(args.users, args.titles, args.days, seed, model, args.layout))
        )
    result = combine(runs)
    result["config"] = {
        "users": args.users,
        "titles": args.titles,
        "days": args.days,
        "seeds": seeds,
        "layout": args.layout,
        "label": args.label or uuid.uuid4().hex[:6],
        "model": {k: list(v) if isinstance(v, tuple) else v for k, v in model.items()},
    }
    write_report(result, args.out)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
