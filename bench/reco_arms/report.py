"""Markdown and PNG read-out of the in-process recommendation experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.reco_arms.notes import HISTORY

ARMS = ("learned", "popularity")
LABELS = {
    "found_share": "share of visits that found something to play",
    "hours": "hours watched per user",
    "hours_per_day": "hours watched per user-day",
    "picked_taste": "hidden taste of the picked title",
    "shown_taste": "hidden taste of what the rows showed",
    "cancelled": "share of users who cancelled",
}


def _fmt(fig: dict[str, Any]) -> str:
    lo, hi = fig["ci95"]
    return f"{fig['mean']:.4f} [{lo:.4f}, {hi:.4f}]"


def _ratio(d: dict[str, int], num: str, den: str) -> str:
    return f"{d.get(num, 0) / d[den]:.3f}" if d.get(den) else "-"


def markdown(result: dict[str, Any]) -> str:
    """The report: per-arm means with bootstrap CIs, the lift, and per-arm diagnostics."""
    cfg = result["config"]
    lines = [
        "# Recommendation arms in-process: learned vs popularity on the simulated audience",
        "",
        f"`python -m bench.reco_arms --users {cfg['users']} --titles {cfg['titles']} "
        f"--days {cfg['days']:g} --seeds {','.join(map(str, cfg['seeds']))} "
        f"--layout {cfg.get('layout', 'service')}`: the simulator's "
        "world, viewers, churn and choice model, with every playback event applied to the "
        "recommendation service's `RecoState` as it is emitted and home rows from its "
        "`HomeRows` handler, no Kafka or gRPC (see the module docstring). "
        f"Seeds are independent worlds, pooled ({result['real_s']:.0f} s wall time in all).",
        "",
        "## Per arm (mean over users, bootstrap 95% CI)",
        "",
        "| metric | learned | popularity | learned - popularity (Welch 95% CI) |",
        "|---|---|---|---|",
    ]
    for m, label in LABELS.items():
        lift = result["lift"][m]
        lo, hi = lift["ci95"]
        sig = " **significant**" if lift["significant"] else ""
        lines.append(
            f"| {label} | {_fmt(result['arms']['learned'][m])} | "
            f"{_fmt(result['arms']['popularity'][m])} | "
            f"{lift['diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]{sig} |"
        )
    users = ", ".join(f"{a} {result['arms'][a]['users']}" for a in ARMS)
    lines += [
        "",
        f"Users: {users}. The service's online hit-rate gauge: {result['hit_rate']} (it "
        "compares each play with the last impression event only, i.e. the last row shown, "
        "so it falls as screens grow). "
        f"Learned blend weights at the end: {result['blend_weights']}.",
        "",
    ]
    lines += [
        "## Diagnostics (per home screen)",
        "",
        "| | learned | popularity |",
        "|---|---|---|",
    ]
    diag = result["diagnostics"]
    rows = [
        ("rows shown", "rows", "visits"),
        ("titles shown", "slots", "visits"),
        ("distinct titles shown", "distinct", "visits"),
        ("unplayable (maturity/region) titles shown", "unplayable", "visits"),
        ("already-seen titles shown", "seen", "visits"),
    ]
    for a in ARMS:
        diag[a]["visits"] = sum(v for k, v in diag[a].items() if k.startswith("visits["))
    for label, num, den in rows:
        cells = " | ".join(_ratio(diag[a], num, den) for a in ARMS)
        lines.append(f"| {label} | {cells} |")
    for b in ("0", "1-2", "3-9", "10+"):
        cells = " | ".join(
            f"{_ratio(diag[a], f'found[{b}]', f'visits[{b}]')} ({diag[a].get(f'visits[{b}]', 0)})"
            for a in ARMS
        )
        lines.append(f"| found share, users with {b} earlier plays (visits) | {cells} |")
    for k in sorted({k[8:-1] for a in ARMS for k in diag[a] if k.startswith("taste_n[")}):
        cells = " | ".join(
            f"{diag[a][f'taste_sum[{k}]'] / 1000 / diag[a][f'taste_n[{k}]']:.3f}"
            if diag[a].get(f"taste_n[{k}]")
            else "-"
            for a in ARMS
        )
        lines.append(f"| mean hidden taste of titles shown in row `{k}` | {cells} |")
    kinds = sorted({k for a in ARMS for k in diag[a] if k.startswith("clicks[")})
    for k in kinds:
        total = {a: sum(v for kk, v in diag[a].items() if kk.startswith("clicks[")) for a in ARMS}
        cells = " | ".join(f"{diag[a].get(k, 0) / total[a]:.3f}" if total[a] else "-" for a in ARMS)
        lines.append(f"| share of plays from row `{k[7:-1]}` | {cells} |")
    lines += ["", HISTORY, ""]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Per-arm means with their intervals for the three headline metrics."""
    metrics = ("found_share", "hours", "picked_taste")
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for ax, m in zip(axes, metrics, strict=True):
        means = [result["arms"][a][m]["mean"] for a in ARMS]
        err = [
            [means[i] - result["arms"][a][m]["ci95"][0] for i, a in enumerate(ARMS)],
            [result["arms"][a][m]["ci95"][1] - means[i] for i, a in enumerate(ARMS)],
        ]
        ax.bar(ARMS, means, yerr=err, capsize=6, color=["tab:blue", "tab:gray"])
        ax.set_title(LABELS[m], fontsize=9)
    fig.suptitle("learned vs popularity rows, simulated audience (95% bootstrap CI)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict[str, Any], out: Path) -> None:
    """``reco_arms.md`` and ``reco_arms.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "reco_arms.md").write_text(markdown(result))
    plot(result, out / "reco_arms.png")
