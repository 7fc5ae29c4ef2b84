"""``python -m bench.churn``: simulated subscribers through the real features, churn model and policy."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.churn.report import evaluate, markdown, plot
from bench.churn.run import run


def main(argv: list[str] | None = None) -> None:
    """Run, write ``churn.md`` and ``churn_auc.png``, print the summary JSON last."""
    ap = argparse.ArgumentParser(prog="python -m bench.churn", description=__doc__)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.3, help="retention-action risk threshold")
    ap.add_argument(
        "--train-horizon-days", type=float, default=30.0, help="horizon of the labels learned"
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cpu = time.process_time()
    res = run(args.users, args.days, args.seed, args.threshold, args.train_horizon_days)
    ev = evaluate(res, args.seed)
    pop = res.pop
    cancelled = pop.cancel_day < pop.days
    summary = {
        "users": pop.n,
        "snapshots": res.snapshots,
        "auc": round(ev["auc"], 4),
        "log_loss": round(ev["log_loss"], 4),
        "auc_oracle": round(ev["auc_oracle"], 4),
        "auc_batch_hindsight": round(ev["auc_batch_hindsight"], 4),
        "actions_emitted": sum(res.actions.values()),
        "features_per_s": round(res.events / max(res.feature_seconds, 1e-9), 1),
        "auc_all": round(ev["auc_all"], 4),
        "labelled": len(res.records.label),
        "churn_rate": round(pop.churn_rate(), 4),
        "unexplained_share": round(float(np.mean(pop.unexplained_cancel[cancelled])), 4)
        if cancelled.any()
        else 0.0,
        "events": res.events,
        "seconds": round(res.wall_seconds, 1),
        "cpu_seconds_run": round(res.cpu_seconds, 1),
    }
    plot(ev, args.out / "churn_auc.png")
    summary["cpu_seconds"] = round(time.process_time() - cpu, 1)  # run + evaluation + plot
    (args.out / "churn.md").write_text(markdown(res, ev, vars(args), summary))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
