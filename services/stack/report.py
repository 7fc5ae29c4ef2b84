"""The run report: markdown with PNG plots of what the services learned, and the experiment readout."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from services.stack.view import LiveView


def _plot(view: LiveView, out: Path) -> list[str]:
    """PNG plots of the learning signals over the run; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [
        ("reco_hit_rate", "recommendation hit rate", "reco_hit_rate.png"),
        ("abr_rolling_qoe", "ABR rolling QoE per chunk", "abr_qoe.png"),
        ("churn_auc", "churn prequential AUC", "churn_auc.png"),
        ("ingest_events_per_s", "telemetry ingest, events/s", "ingest.png"),
    ]
    names = []
    for key, title, fname in series:
        pts = [
            (s.t, s.values[key])
            for s in view.history
            if key in s.values and math.isfinite(s.values[key])
        ]
        if len(pts) < 2:
            continue
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot([p[0] for p in pts], [p[1] for p in pts])
        ax.set_title(title)
        ax.set_xlabel("seconds since start")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=100)
        plt.close(fig)
        names.append(fname)
    arms = [
        (
            s.t,
            s.values.get("watched_h_rec_learned", 0.0),
            s.values.get("watched_h_rec_popularity", 0.0),
        )
        for s in view.history
    ]
    if len(arms) >= 2:
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot([a[0] for a in arms], [a[1] for a in arms], label="learned recommendations")
        ax.plot([a[0] for a in arms], [a[2] for a in arms], label="popularity")
        ax.set_title("hours watched by recommendation arm")
        ax.set_xlabel("seconds since start")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "arms_hours.png", dpi=100)
        plt.close(fig)
        names.append("arms_hours.png")
    return names


def _num(value: object, fmt: str = ".4g") -> str:
    """A figure from the summary; undefined ones (too few users for a CI) are JSON null."""
    return format(value, fmt) if isinstance(value, int | float) else "n/a"


def _method(lift: dict[str, Any]) -> str:
    """How a lift was estimated, with its units (users) when the estimator says."""
    method = str(lift.get("method", "difference of means (Welch)"))
    return f"{method} ({lift['units']})" if lift.get("units") else method


def _readout(summary: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, exp in summary.get("experiments", {}).items():
        lines += [
            f"### {name}: {exp.get('control')} (control) vs {exp.get('treatment')} (treatment)",
            "",
        ]
        lines += [
            "| metric | control | treatment | difference | 95% CI | significant | method (users) |",
            "|---|---|---|---|---|---|---|",
        ]
        for metric, v in exp.get("lift", {}).items():
            if not isinstance(v, dict):
                continue
            lo, hi = v.get("ci95") or [None, None]
            lines.append(
                f"| {metric} | {_num(v.get('control_mean'))} | {_num(v.get('treatment_mean'))} | "
                f"{_num(v.get('diff'), '+.4g')} | [{_num(lo)}, {_num(hi)}] | "
                f"{'yes' if v.get('significant') else 'no'} | {_method(v)} |"
            )
        lines.append("")
    return lines


def write(view: LiveView, run_dir: Path, summary_path: Path) -> Path:
    """Write ``run_dir/report.md`` (and its PNGs) and return its path."""
    plots = _plot(view, run_dir)
    lines = [
        "# Reelstream local run",
        "",
        f"Duration: {view.history[-1].t if view.history else 0:,.0f} s of wall time.",
        "",
    ]
    lines += ["## Processes at the end", "", *view.service_table_md(), ""]
    final = view.history[-1].values if view.history else {}
    if final:
        lines += ["## Learning at the end", ""]
        for key, value in sorted(final.items()):
            lines.append(f"- {key}: {value:,.4g}")
        lines.append("")
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        lines += ["## Experiment readout (from the simulator)", "", *_readout(summary)]
        lines += [
            "<details><summary>simulator summary JSON</summary>",
            "",
            "```json",
            json.dumps(summary, indent=2)[:20000],
            "```",
            "</details>",
            "",
        ]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
