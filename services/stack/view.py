"""The live terminal view of ``make run``: services, models, and the experiment, every second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from services.stack.processes import ServiceSpec
from services.stack.scrape import Scrape, quantile, rate, scrape


@dataclass
class Sample:
    """One second of the run, kept for the report's plots."""

    t: float
    values: dict[str, float] = field(default_factory=dict)


class LiveView:
    """Scrapes every process each second; renders tables; keeps the history for the report."""

    def __init__(self, specs: list[ServiceSpec]) -> None:
        self.specs = specs
        self.last: dict[str, Scrape | None] = {s.name: None for s in specs}
        self.prev: dict[str, Scrape | None] = {s.name: None for s in specs}
        self.history: list[Sample] = []
        self.started = time.time()

    def _get(self, name: str) -> tuple[Scrape | None, Scrape | None]:
        return self.last.get(name), self.prev.get(name)

    def _service_row(self, spec: ServiceSpec) -> tuple[str, ...]:
        new, old = self._get(spec.name)
        if new is None:
            return (spec.name, "[red]down", "-", "-", "-", "-")
        rpc = rate(new, old, "grpc_server_handled_total")
        errors = rpc - rate(new, old, "grpc_server_handled_total", grpc_code="OK")
        p99 = quantile(new, old, "grpc_server_handling_seconds", 0.99)
        events = sum(
            rate(new, old, name)
            for name in (
                "reelstream_telemetry_events_accepted_total",
                "reelstream_consumer_records_total",
                "reelstream_features_events_total",
                "reelstream_simulator_events_sent_total",
            )
        )
        lag = new.total("reelstream_consumer_lag_records")
        ready = new.total("reelstream_ready") >= 1 or spec.grpc_port is None
        return (
            spec.name,
            "[green]up" if ready else "[yellow]starting",
            f"{events:,.0f}",
            f"{rpc:,.0f} ({errors:,.1f} err)",
            "-" if p99 is None else f"{p99 * 1000:.1f}",
            f"{lag:,.0f}",
        )

    def model_values(self) -> dict[str, float]:
        """The learning signals the run is about (NaN-free: missing means not yet)."""
        out: dict[str, float] = {}
        reco, _ = self._get("recommendation")
        if reco is not None:
            out["reco_hit_rate"] = reco.total("reelstream_reco_hit_rate")
        abr, abr_old = self._get("abr")
        if abr is not None:
            out["abr_rolling_qoe"] = abr.total("reelstream_abr_rolling_qoe")
            played = rate(abr, abr_old, "reelstream_abr_played_seconds_total")
            if played > 0:
                out["rebuffer_ratio"] = (
                    rate(abr, abr_old, "reelstream_abr_rebuffer_seconds_total") / played
                )
        churn, _ = self._get("churn")
        if churn is not None:
            out["churn_auc"] = churn.total("reelstream_churn_auc")
            out["churn_labels"] = churn.total("reelstream_churn_labels_total")
        sim, sim_old = self._get("simulator")
        if sim is not None:
            out["events_per_s"] = rate(sim, sim_old, "reelstream_simulator_events_sent_total")
            for exp, arm in (
                ("rec", "learned"),
                ("rec", "popularity"),
                ("abr", "learned"),
                ("abr", "buffer_based"),
            ):
                out[f"watched_h_{exp}_{arm}"] = (
                    sim.total("reelstream_simulator_watched_seconds_total", experiment=exp, arm=arm)
                    / 3600
                )
            for arm in ("learned", "buffer_based"):
                out[f"rebuffer_s_{arm}"] = sim.total(
                    "reelstream_simulator_rebuffer_seconds_total", abr_arm=arm
                )
            out["subscribers"] = sim.total("reelstream_simulator_subscribers")
            out["sim_time"] = sim.total("reelstream_simulator_sim_time_seconds")
        tel, tel_old = self._get("telemetry")
        if tel is not None:
            out["ingest_events_per_s"] = rate(
                tel, tel_old, "reelstream_telemetry_events_accepted_total"
            )
        return out

    def render(self) -> Group:
        elapsed = time.time() - self.started
        services = Table(
            title=f"Reelstream — running {elapsed:,.0f} s (Ctrl-C stops and writes run/report.md)"
        )
        for col in ("process", "state", "events/s", "RPC/s", "RPC p99 ms", "consumer lag"):
            services.add_column(col, justify="left" if col == "process" else "right")
        for spec in self.specs:
            services.add_row(*self._service_row(spec))
        m = self.model_values()
        models = Table(title="Learning")
        for col in ("signal", "value"):
            models.add_column(col, justify="left" if col == "signal" else "right")
        rows = [
            ("recommendation hit rate (plays that were recommended)", "reco_hit_rate", "{:.1%}"),
            ("ABR rolling QoE per chunk", "abr_rolling_qoe", "{:.3f}"),
            ("rebuffer ratio (last second)", "rebuffer_ratio", "{:.2%}"),
            ("churn prequential AUC", "churn_auc", "{:.3f}"),
            ("churn labels learned", "churn_labels", "{:,.0f}"),
            ("subscribers", "subscribers", "{:,.0f}"),
        ]
        for label, key, fmt in rows:
            models.add_row(label, fmt.format(m[key]) if key in m else "-")
        arms = Table(title="Experiment arms (hours watched so far)")
        for col in ("experiment", "control", "treatment"):
            arms.add_column(col, justify="right" if col != "experiment" else "left")
        arms.add_row(
            "recommendations: popularity vs learned",
            f"{m.get('watched_h_rec_popularity', 0):,.1f} h",
            f"{m.get('watched_h_rec_learned', 0):,.1f} h",
        )
        arms.add_row(
            "ABR: buffer-based vs learned",
            f"{m.get('watched_h_abr_buffer_based', 0):,.1f} h",
            f"{m.get('watched_h_abr_learned', 0):,.1f} h",
        )
        return Group(services, models, arms)

    async def run(
        self, stop: asyncio.Event, deadline: float | None, done: asyncio.Event | None = None
    ) -> None:
        """Refresh until ``stop`` is set, the deadline passes, or ``done`` (the audience ended)."""
        self.started = time.time()
        console = Console(stderr=True)
        with Live(self.render(), console=console, refresh_per_second=2, transient=False) as live:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                if done is not None and done.is_set():
                    break
                now = time.time()
                for spec in self.specs:
                    self.prev[spec.name] = self.last[spec.name]
                    self.last[spec.name] = await asyncio.to_thread(scrape, spec.metrics_port, now)
                self.history.append(Sample(now - self.started, self.model_values()))
                live.update(self.render())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    def service_table_md(self) -> list[str]:
        lines = [
            "| process | state | events/s | RPC/s | RPC p99 ms | consumer lag |",
            "|---|---|---|---|---|---|",
        ]
        for spec in self.specs:
            row = self._service_row(spec)
            lines.append(
                "| "
                + " | ".join(
                    c.replace("[green]", "").replace("[red]", "").replace("[yellow]", "")
                    for c in row
                )
                + " |"
            )
        return lines
