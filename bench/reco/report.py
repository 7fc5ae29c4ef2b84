"""Markdown report and recall plot for the prequential recommendation benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.reco.prequential import Result

PUBLISHED = [
    ("global popularity (incremental counts)", 0.0750, 0.1249),
    ("ISGD (incremental MF, Vinagre 2014), k=10", 0.0547, 0.0960),
    ("River `reco.FunkMF` trained with y=1", 0.0527, 0.0918),
]


def rolling(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` events (shorter at the start).

    >>> rolling(np.array([1, 0, 1, 1]), 2).tolist()
    [1.0, 0.5, 0.5, 1.0]
    """
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    idx = np.arange(1, x.shape[0] + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot(model: Result, baseline: Result, path: Path, window: int = 5000) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for r, color in ((model, "tab:blue"), (baseline, "tab:gray")):
        x = np.arange(1, r.events + 1)
        cum = np.cumsum(r.hits10, dtype=np.float64) / x
        ax.plot(x, cum, color=color, label=f"{r.name}: cumulative")
        ax.plot(
            x,
            rolling(r.hits10, window),
            color=color,
            alpha=0.45,
            lw=0.8,
            label=f"{r.name}: rolling {window}",
        )
    ax.set_xlabel("events (timestamp order)")
    ax.set_ylabel("recall@10")
    ax.set_title("Prequential recall@10 (test-then-train)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def row(r: Result) -> str:
    return (
        f"| {r.name} | {r.recall10:.4f} | {r.recall20:.4f} | "
        f"{r.updates_per_s:,.0f} ({r.updates_per_s_cpu:,.0f}) | "
        f"{r.rank_p99_ms:.3f} ({r.rank_p99_ms_cpu:.3f}) |"
    )


def markdown(
    data_path: Path,
    model: Result,
    baseline: Result,
    ablation: list[Result],
    params: str,
    load_note: str,
    alone: tuple[float, float],
) -> str:
    lines = [
        "# Recommendation: prequential recall on MovieLens",
        "",
        f"Data: `{data_path}`, {model.events:,} events replayed in timestamp order (stable sort).",
        "Protocol (Vinagre, Jorge & Gama 2014): for each event (u, i), ask for u's top-N",
        "excluding items u already consumed, count a hit if i is in it (a never-seen user",
        "is a miss), then learn (u, i). recall@N = hits / all events. Produced by",
        "`python -m bench.reco`.",
        "",
        "## Result",
        "",
        "| learner | recall@10 | recall@20 | learn/s wall (CPU) | recommend p99 ms wall (CPU) |",
        "|---|---|---|---|---|",
    ]
    lines += [row(r) for r in (model, baseline)]
    lines += [
        "",
        f"Learner alone (a fresh `Recommender` fed the {model.events:,} events with no",
        f"recommend calls in between): **{alone[0]:,.0f} learn/s** wall, {alone[1]:,.0f} CPU.",
        "",
        "learn/s counts `learn_one` calls per second of time spent inside `learn_one` only;",
        "recommend p99 is over every `recommend(u, 20, exclude=consumed)` call of the run",
        "(full catalogue). Wall figures include preemption by other processes on this",
        f"shared machine (load average {load_note}); CPU figures are the thread's own CPU time.",
    ]
    lines += ["", "Published / reproduced on the same protocol (from the data README):", ""]
    lines += ["| model | recall@10 | recall@20 |", "|---|---|---|"]
    lines += [f"| {n} | {a:.4f} | {b:.4f} |" for n, a, b in PUBLISHED]
    if ablation:
        lines += [
            "",
            "## Ablation (same `Recommender` class, `signals=` subset, same run)",
            "",
            "| signals | recall@10 | recall@20 | learn/s wall (CPU) | recommend p99 ms wall (CPU) |",
            "|---|---|---|---|---|",
        ]
        lines += [row(r) for r in ablation]
    lines += ["", "## Configuration", "", params, "", "![recall](reco_recall.png)", ""]
    return "\n".join(lines)
