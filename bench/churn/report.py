"""Evaluation of a churn run: prequential, oracle and hindsight AUCs, the markdown report and the AUC plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss, roc_auc_score

from bench.churn.run import RunResult, as_arrays
from bench.churn.simulator import DAY_S


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else float("nan")


def _ll(y: np.ndarray, p: np.ndarray) -> float:
    return float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[False, True]))


def evaluate(res: RunResult, seed: int, split: float = 0.5) -> dict[str, Any]:
    """All figures: online (served and per candidate), oracle and hindsight, on the later part."""
    a = as_arrays(res.records)
    # Only snapshots whose outcome is settled either way: later ones are labelled only if positive.
    settled = (
        a["time"]
        < res.pop.days * DAY_S - res.model.labeler.horizon_s - res.model.labeler.lateness_s
    )
    a = {k: v[settled] for k, v in a.items()}
    y, t = a["label"], a["time"]
    cut = float(np.quantile(t, split))
    train, test = t < cut, t >= cut
    hgb = HistGradientBoostingClassifier(random_state=seed, max_iter=300, early_stopping=True)
    hgb.fit(a["X"][train], y[train])
    p_hgb = np.zeros_like(a["served"])
    p_hgb[test] = hgb.predict_proba(a["X"][test])[:, 1]
    cands = sorted(k[5:] for k in a if k.startswith("cand_"))
    ev: dict[str, Any] = {
        "arrays": a,
        "p_hgb": p_hgb,
        "cut": cut,
        "test": test,
        "cands": cands,
        "auc": _auc(y[test], a["served"][test]),
        "log_loss": _ll(y[test], a["served"][test]),
        "auc_all": _auc(y, a["served"]),
        "log_loss_all": _ll(y, a["served"]),
        "auc_oracle": _auc(y[test], a["oracle"][test]),
        "auc_oracle_all": _auc(y, a["oracle"]),
        "auc_batch_hindsight": _auc(y[test], p_hgb[test]),
        "log_loss_batch_hindsight": _ll(y[test], p_hgb[test]),
        "cand_auc": {c: _auc(y[test], a[f"cand_{c}"][test]) for c in cands},
        "cand_ll": {c: _ll(y[test], a[f"cand_{c}"][test]) for c in cands},
        "label_mismatch": int((y != a["truth"]).sum()),
        "positive_rate": float(y.mean()),
        "n_test": int(test.sum()),
        "n_train": int(train.sum()),
        "reliability": reliability(y[test], a["served"][test]),
    }
    return ev


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """``(mean predicted, observed rate, count)`` per decile of the predicted probability.

    >>> reliability(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.9]), bins=2)
    [(0.15, 0.0, 2), (0.8, 1.0, 2)]
    """
    order = np.argsort(p, kind="stable")
    return [
        (round(float(p[i].mean()), 6), round(float(y[i].mean()), 6), int(i.size))
        for i in np.array_split(order, bins)
        if i.size
    ]


def rolling_auc(
    t: np.ndarray, y: np.ndarray, p: np.ndarray, window_days: int = 14
) -> tuple[np.ndarray, np.ndarray]:
    """AUC over snapshots of the last ``window_days`` simulated days, per day."""
    days = (t // DAY_S).astype(int)
    xs, ys = [], []
    for d in range(days.min() + window_days - 1, days.max() + 1):
        m = (days > d - window_days) & (days <= d) & ~np.isnan(p)
        if m.sum() > 50 and 0 < y[m].sum() < m.sum():
            xs.append(d)
            ys.append(roc_auc_score(y[m], p[m]))
    return np.asarray(xs), np.asarray(ys)


def plot(ev: dict[str, Any], path: Path) -> None:
    """Rolling prequential AUC over simulated days: online vs hindsight vs oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = ev["arrays"]
    t, y = a["time"], a["label"]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    series = [("online (served)", a["served"], "C0", "-")]
    series += [
        (f"online: {c}", a[f"cand_{c}"], f"C{i + 1}", ":") for i, c in enumerate(ev["cands"])
    ]
    hind = np.where(ev["test"], ev["p_hgb"], np.nan)
    series += [
        ("hindsight HGB (test part)", hind, "C5", "--"),
        ("oracle (true hazard)", a["oracle"], "k", "-."),
    ]
    for name, p, color, ls in series:
        xs, ys = rolling_auc(t, y, p)
        ax.plot(xs, ys, label=name, color=color, linestyle=ls)
    ax.axvline(ev["cut"] / DAY_S, color="grey", lw=0.8)
    ax.text(
        ev["cut"] / DAY_S,
        ax.get_ylim()[0],
        " train | test (hindsight split)",
        color="grey",
        va="bottom",
    )
    ax.set_xlabel("simulated day of snapshot")
    ax.set_ylabel("AUC, snapshots of the last 14 days")
    ax.set_title("Churn within 30 days: rolling prequential AUC")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(
    res: RunResult, ev: dict[str, Any], args: dict[str, Any], summary: dict[str, Any]
) -> str:
    """The readable report."""
    pop = res.pop
    m = res.model.metrics()
    lines = [
        "# Churn: engagement features + online churn model with delayed labels",
        "",
        f"Command: `python -m bench.churn --users {args['users']} --days {args['days']} "
        f"--seed {args['seed']} --out {args['out']}`",
        "",
        "## Simulated population",
        "",
        f"- {pop.n} subscribers over {pop.days} days; cancellation hazard is the known function in "
        "`bench/churn/simulator.py` (v3) of what each subscriber actually watched and experienced "
        "(the same draws the events carry): decline of realised minutes (last 7 d against days "
        f"8-28 before), experienced rebuffering (over {pop.coef.rebuffer_days} d), low relevance, "
        f"low realised minutes (mean over {pop.coef.level_days} d), "
        f"all acting {pop.coef.lag_days} days later; new user; per-user unobserved frailty sd "
        f"{pop.coef.frailty_sd}; plus an unexplained hazard shared by all.",
        f"- Churn rate during the run: **{pop.churn_rate():.1%}** of users cancelled; "
        f"{summary['unexplained_share']:.0%} of cancellations fell in the unexplained hazard band.",
        f"- Events delivered: {res.events} (late within 48 h: 5 %, beyond: 0.3 %, duplicated: 1 %); "
        f"dropped as too late: {res.dropped_late}; duplicates ignored: {res.duplicates}.",
        f"- Snapshots to churn: {res.snapshots}; labelled (queued at most every "
        f"{res.model.labeler.min_gap_s / DAY_S:.0f} days per user): "
        f"{len(res.records.label)}, positive rate {ev['positive_rate']:.1%}; labels disagreeing with the "
        f"simulator's truth (very late cancel events): {ev['label_mismatch']}.",
        "",
        "## Accuracy (later part: snapshots at or after the time-ordered split)",
        "",
        f"Split at simulated day {ev['cut'] / DAY_S:.1f}: hindsight trains on {ev['n_train']} "
        f"earlier snapshots, every model is scored on the same {ev['n_test']} later ones.",
        "",
        f"Online model: `{type(res.model._cands[res.model.explainer].estimator).__name__}` trained on "
        f"{res.model.train_labeler.horizon_s / DAY_S:.0f}-day labels (one snapshot per user every "
        f"{res.model.train_labeler.min_gap_s / DAY_S:.0f} days, "
        f"{res.model.n_train} learned), served on the {res.model.labeler.horizon_s / DAY_S:.0f}-day horizon.",
        "",
        "| model | AUC | log loss |",
        "|---|---|---|",
        f"| online, served (active candidate at each snapshot) | **{ev['auc']:.4f}** | {ev['log_loss']:.4f} |",
    ]
    for c in ev["cands"]:
        lines.append(
            f"| online candidate `{c}` | {ev['cand_auc'][c]:.4f} | {ev['cand_ll'][c]:.4f} |"
        )
    lines += [
        f"| hindsight HistGradientBoosting (trained on the earlier part) | {ev['auc_batch_hindsight']:.4f} "
        f"| {ev['log_loss_batch_hindsight']:.4f} |",
        f"| oracle: true hazard over the 30-day horizon | {ev['auc_oracle']:.4f} | - |",
        "",
        f"All labelled snapshots (including the cold start): online served AUC {ev['auc_all']:.4f}, "
        f"log loss {ev['log_loss_all']:.4f}; oracle {ev['auc_oracle_all']:.4f}.",
        "",
        "Calibration of the served probability on the later part (deciles of the prediction):",
        "",
        "| decile | mean predicted | observed 30-day churn | snapshots |",
        "|---|---|---|---|",
        *(
            f"| {i + 1} | {mp:.3f} | {obs:.3f} | {cnt} |"
            for i, (mp, obs, cnt) in enumerate(ev["reliability"])
        ),
        "",
        "Targets: `auc >= auc_batch_hindsight - 0.01`: "
        f"{'met' if ev['auc'] >= ev['auc_batch_hindsight'] - 0.01 else 'NOT met'}; "
        f"`auc >= auc_oracle - 0.05`: {'met' if ev['auc'] >= ev['auc_oracle'] - 0.05 else 'NOT met'}.",
        "",
        "River's own prequential metrics at the end (rolling AUC over the last 20k labels, "
        "cumulative log loss):",
        "",
        "| candidate | rolling AUC | log loss | labels |",
        "|---|---|---|---|",
    ]
    for n, v in m.items():
        lines.append(f"| {n} | {v['auc']:.4f} | {v['log_loss']:.4f} | {int(v['labels'])} |")
    switches = [
        (d, n)
        for i, (d, n) in enumerate(res.active_history)
        if i == 0 or res.active_history[i - 1][1] != n
    ]
    lines += [
        "",
        "Active (served) candidate, by day it took over: "
        + ", ".join(f"day {d + 1}: `{n}`" for d, n in switches)
        + ".",
        "",
        "![rolling AUC](churn_auc.png)",
        "",
        "## Retention actions",
        "",
        f"Threshold {res.policy.threshold}, at most one per user per {res.policy.window_s / DAY_S:.0f} days: "
        f"{sum(res.actions.values())} actions ("
        + ", ".join(f"{k}: {v}" for k, v in res.actions.items())
        + f"); {res.degraded_actions} degraded (the stand-in recommender fails every 10th call); "
        f"{res.policy.suppressed} crossings suppressed by the rate limit.",
        "",
        "## Throughput (CPU seconds, one process on a shared 2-core machine)",
        "",
        f"- Feature code: {res.events} events in {res.feature_seconds:.1f} s = "
        f"**{summary['features_per_s']:.0f} events/s** (includes change-snapshot computation).",
        f"- Daily ticks: {res.tick_seconds:.1f} s; churn model + policy: {res.model_seconds:.1f} s; "
        f"the rest of the run (simulating and delivering events): "
        f"{res.cpu_seconds - res.feature_seconds - res.tick_seconds - res.model_seconds:.1f} s.",
        f"- Whole run {res.cpu_seconds:.0f} CPU s ({res.wall_seconds:.0f} s wall); with evaluation "
        f"and plot {summary.get('cpu_seconds', float('nan')):.0f} CPU s.",
        "",
        "What each change bought: [churn_ablation.md](churn_ablation.md).",
        "",
    ]
    return "\n".join(lines)
