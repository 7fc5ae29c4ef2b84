"""The live terminal view of ``make run``: one row per service, refreshed every second."""

from __future__ import annotations

import asyncio
import contextlib
import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from services.stack.processes import ServiceSpec
from services.stack.scrape import Scrape, quantile, rate, scrape


class LiveView:
    """Scrapes every service each second; renders a table; keeps history for the report."""

    def __init__(self, specs: list[ServiceSpec]) -> None:
        self.specs = specs
        self.last: dict[str, Scrape | None] = {s.name: None for s in specs}
        self.prev: dict[str, Scrape | None] = {s.name: None for s in specs}
        self.history: list[dict[str, float]] = []
        self.started = time.time()

    def _row(self, spec: ServiceSpec) -> tuple[str, ...]:
        new, old = self.last[spec.name], self.prev[spec.name]
        if new is None:
            return (spec.name, "[red]down", "-", "-", "-", "-")
        rpc = rate(new, old, "grpc_server_handled_total")
        errors = rate(new, old, "grpc_server_handled_total") - rate(
            new, old, "grpc_server_handled_total", grpc_code="OK"
        )
        p99 = quantile(new, old, "grpc_server_handling_seconds", 0.99)
        events = rate(new, old, "reelstream_telemetry_events_accepted_total") + rate(
            new, old, "reelstream_consumer_records_total"
        )
        lag = new.total("reelstream_consumer_lag_records")
        return (
            spec.name,
            "[green]up"
            if new.total("reelstream_ready") >= 1 or spec.grpc_port is None
            else "[yellow]starting",
            f"{events:,.0f}",
            f"{rpc:,.0f} ({errors:,.1f} err)",
            "-" if p99 is None else f"{p99 * 1000:.1f}",
            f"{lag:,.0f}",
        )

    def render(self) -> Table:
        elapsed = time.time() - self.started
        table = Table(
            title=f"Reelstream — running {elapsed:,.0f} s (Ctrl-C stops and writes run/report.md)"
        )
        for col in ("service", "state", "events/s", "RPC/s", "RPC p99 ms", "consumer lag"):
            table.add_column(col, justify="right" if col != "service" else "left")
        for spec in self.specs:
            table.add_row(*self._row(spec))
        return table

    async def run(self, stop: asyncio.Event, deadline: float | None) -> None:
        """Refresh until ``stop`` is set or the deadline passes."""
        console = Console(stderr=True)
        with Live(self.render(), console=console, refresh_per_second=2, transient=False) as live:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                now = time.time()
                for spec in self.specs:
                    self.prev[spec.name] = self.last[spec.name]
                    self.last[spec.name] = await asyncio.to_thread(scrape, spec.metrics_port, now)
                sample = {"t": now - self.started}
                tel = self.last.get("telemetry")
                if tel is not None:
                    sample["telemetry_events_per_s"] = rate(
                        tel,
                        self.prev.get("telemetry"),
                        "reelstream_telemetry_events_accepted_total",
                    )
                self.history.append(sample)
                live.update(self.render())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    def report(self) -> str:
        """Markdown summary of the run."""
        lines = ["# Reelstream local run", "", f"Duration: {time.time() - self.started:,.0f} s", ""]
        lines += [
            "| service | events/s | RPC/s | RPC p99 ms | consumer lag |",
            "|---|---|---|---|---|",
        ]
        for spec in self.specs:
            row = self._row(spec)
            lines.append(f"| {row[0]} | {row[2]} | {row[3]} | {row[4]} | {row[5]} |")
        rates = [h.get("telemetry_events_per_s", 0.0) for h in self.history]
        if rates:
            lines += [
                "",
                f"Telemetry ingest: mean {sum(rates) / len(rates):,.0f} events/s, peak {max(rates):,.0f}.",
            ]
        return "\n".join(lines) + "\n"
