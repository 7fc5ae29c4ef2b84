"""Run the prequential MovieLens benchmark: `python -m bench.reco [--data PATH] [--out DIR]`."""

from __future__ import annotations

import argparse
import gc
import json
import os
from functools import partial
from pathlib import Path

from bench.reco.data import load_ratings
from bench.reco.notes import PARAMS, TRIED
from bench.reco.prequential import Result, learn_rate, run
from bench.reco.report import markdown, plot
from services.recommendation.model import SIGNALS, Popularity, Recommender

ABLATIONS: list[tuple[str, ...]] = [
    ("covis",),
    ("mf",),
    ("trend",),
    ("popularity",),
    ("covis", "trend", "popularity"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/movielens-100k/u.data"))
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    ap.add_argument("--limit", type=int, default=0, help="replay only the first N events")
    ap.add_argument("--no-ablation", action="store_true", help="skip the per-signal runs")
    args = ap.parse_args()

    data = load_ratings(args.data)
    if args.limit:
        data = data[: args.limit]
    gc.freeze()  # the loaded data is permanent: keep it out of the collector's scans
    load_before = os.getloadavg()[0]
    baseline = run("popularity baseline", Popularity, data)
    model = run("Recommender (blend)", Recommender, data)
    alone = learn_rate(Recommender, data)
    ablation: list[Result] = []
    if not args.no_ablation:
        for signals in ABLATIONS:
            ablation.append(run(" + ".join(signals), partial(Recommender, signals=signals), data))
        ablation.append(model)

    args.out.mkdir(parents=True, exist_ok=True)
    plot(model, baseline, args.out / "reco_recall.png")
    load = (load_before, os.getloadavg()[0])
    load_note = f"{load[0]:.1f} at start, {load[1]:.1f} at end, {os.cpu_count()} CPUs"
    report = markdown(
        args.data, model, baseline, ablation, PARAMS + "\n\n" + TRIED, load_note, alone
    )
    (args.out / "reco.md").write_text(report)
    print(
        json.dumps(
            {
                "events": model.events,
                "recall_at_10": round(model.recall10, 4),
                "recall_at_20": round(model.recall20, 4),
                "popularity_recall_at_10": round(baseline.recall10, 4),
                "updates_per_s": round(alone[0]),
                "rank_p99_ms": round(model.rank_p99_ms, 3),
                "updates_per_s_cpu": round(alone[1]),
                "updates_per_s_in_run": round(model.updates_per_s),
                "rank_p99_ms_cpu": round(model.rank_p99_ms_cpu, 3),
                "load_avg": [round(x, 2) for x in load],
                "signals": list(SIGNALS),
            }
        )
    )


if __name__ == "__main__":
    main()
