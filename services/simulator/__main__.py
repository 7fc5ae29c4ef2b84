"""Simulator entry point: settings → world → channels → sink → fleet → run → summary.

``python -m services.simulator [--duration S] [--users N] [--titles N] [--speed X]
[--seed N] [--summary PATH] [--trace-dir DIR]``; every flag overrides its variable:
``SIMULATOR_TELEMETRY_ADDR`` / ``_RECOMMENDATION_ADDR`` / ``_ABR_ADDR`` (127.0.0.1:50051
/ 50052 / 50053), ``SIMULATOR_USERS`` (2000), ``_TITLES`` (3000), ``_SPEED`` (1000),
``_DURATION_S`` (0 = until SIGTERM/SIGINT), ``_SEED``, ``_TRACE_DIR``,
``_METRICS_PORT`` (9106), ``_SUMMARY_PATH`` (run/simulator_summary.json),
``_MAX_SIM_DAYS`` (29), and the shared ``KAFKA_BOOTSTRAP`` / ``REELSTREAM_TOPIC_PREFIX``
for the catalogue records. On exit it writes the JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
import uuid
from typing import Any

import grpc
import numpy as np

from reelstream.abr.v1 import abr_pb2_grpc
from reelstream.platform import logs
from reelstream.platform.metrics import serve_metrics
from reelstream.platform.producer import DurableProducer
from reelstream.platform.topics import TopicNames
from reelstream.recommendation.v1 import recommendation_pb2_grpc as rec_grpc
from reelstream.telemetry.v1 import telemetry_pb2_grpc
from services.simulator.arms import Assignment, rec_arm
from services.simulator.catalog import REGIONS, Catalog
from services.simulator.clients import AbrClient, Breaker, RecClient
from services.simulator.clock import SimClock, span_for
from services.simulator.cms import CatalogPublisher
from services.simulator.events import EventFactory
from services.simulator.fleet import Fleet, FleetConfig
from services.simulator.hazard import HazardModel, Recent
from services.simulator.network import load_trace_dir
from services.simulator.population import Population
from services.simulator.report import summary, write_summary
from services.simulator.settings import SimulatorSettings
from services.simulator.sink import TelemetrySink
from services.simulator.stats import UserStats
from services.simulator.viewer import Viewers
from services.simulator.world import Services, ViewerState

log = logging.getLogger("simulator")


def build_states(pop: Population, factory: EventFactory, seed: int) -> list[ViewerState]:
    """Per-viewer state with its own random stream (its behaviour does not depend on timing)."""
    return [
        ViewerState(
            rng=np.random.default_rng([seed, 2, u]),
            client=factory.client(
                pop.ids[u], int(pop.device[u]), REGIONS[int(pop.region[u])], int(pop.network[u])
            ),
            rec_arm=rec_arm(pop.ids[u]),
        )
        for u in range(len(pop))
    ]


def build_fleet(
    settings: SimulatorSettings,
    clock: SimClock,
    channels: tuple[grpc.aio.Channel, grpc.aio.Channel, grpc.aio.Channel],
    producer: DurableProducer | None = None,
) -> Fleet:
    """The world (catalogue, population, per-viewer state) wired to the services' channels."""
    rng = np.random.default_rng(settings.seed)
    span = span_for(settings.speed, settings.duration_s, settings.max_sim_days)
    catalog = Catalog.generate(settings.titles, rng, start_s=clock.start, span_s=span)
    reserve = int(np.ceil(settings.users * settings.signups_per_day * span / 86_400 * 1.5)) + 1
    population = Population.generate(settings.users + reserve, rng)
    factory = EventFactory(uuid.uuid4().hex[:8])
    traces = load_trace_dir(settings.trace_dir) if settings.trace_dir else None
    sink = TelemetrySink(
        telemetry_pb2_grpc.TelemetryServiceStub(channels[0]),
        batch_events=settings.batch_events,
        max_in_flight=settings.max_in_flight_batches,
    )
    # Each app's breaker waits its cooldown in the app's (simulated) time: at speed x, a
    # service stall of s wall seconds already covers s * x simulated seconds of sessions, and a
    # wall-clock cooldown would stretch every such outage by another 2 s * x.
    cooldown_s = max(settings.breaker_cooldown_s / settings.speed, 0.01)
    services = Services(
        sink,
        RecClient(
            rec_grpc.RecommendationServiceStub(channels[1]),
            settings.rpc_timeout_s,
            Breaker(cooldown_s=cooldown_s),
        ),
        AbrClient(
            abr_pb2_grpc.AbrServiceStub(channels[2]),
            settings.rpc_timeout_s,
            breaker=Breaker(cooldown_s=cooldown_s),
        ),
        factory,
    )
    hazard = HazardModel()
    viewers = Viewers(
        catalog,
        population,
        build_states(population, factory, settings.seed),
        services,
        UserStats(len(population)),
        Recent(len(population), hazard),
        mean_sitting_s=settings.mean_sitting_minutes * 60.0,
        traces=traces,
        assignment=Assignment(
            abr_learned_share=settings.abr_learned_share,
            rec_start_s=clock.start + settings.rec_pre_period_h * 3600.0,
        ),
    )
    cms = None
    if producer is not None:
        cms = CatalogPublisher(producer, TopicNames(settings.topic_prefix).catalog, catalog)
    config = FleetConfig(
        initial_users=settings.users,
        signups_per_day=settings.signups_per_day,
        max_concurrency=settings.max_concurrency,
        max_skew_s=settings.max_skew_s,
        backlog_high_water=max(50 * settings.batch_events, 10_000),
        progress_interval_s=settings.progress_interval_s,
        seed=settings.seed,
    )
    return Fleet(viewers, clock, sink, cms, config, hazard)


async def run_simulator(settings: SimulatorSettings, stop: asyncio.Event) -> dict[str, Any]:
    """Run until ``stop`` (or the settings' duration); write and return the summary."""
    t_real0 = time.monotonic()
    span = span_for(settings.speed, settings.duration_s, settings.max_sim_days)
    clock = SimClock(settings.speed, span)
    producer = (
        DurableProducer(settings.kafka_bootstrap, "simulator-cms")
        if settings.publish_catalog
        else None
    )
    channels = (
        grpc.aio.insecure_channel(settings.telemetry_addr),
        grpc.aio.insecure_channel(settings.recommendation_addr),
        grpc.aio.insecure_channel(settings.abr_addr),
    )
    try:
        fleet = build_fleet(settings, clock, channels, producer)
        sink, cms = fleet.sink, fleet.cms
        publishing = None
        if cms is not None:
            # The catalogue should be known before anyone browses; if Kafka is slow or away,
            # start anyway after 5 s (the publish keeps trying in the background).
            first = fleet.viewers.cat.released_in(-np.inf, clock.start + 86_400.0)
            publishing = asyncio.ensure_future(cms.publish(first))
            await asyncio.wait({publishing}, timeout=5.0)
        fleet.seed_schedule()
        shipping = [
            asyncio.ensure_future(sink.run_stream()),
            asyncio.ensure_future(sink.run_subscriptions()),
        ]
        timer = None
        if settings.duration_s > 0:
            timer = asyncio.get_running_loop().call_later(settings.duration_s, stop.set)
        log.info("simulator running", extra={"users": settings.users, "speed": settings.speed})
        await fleet.run(stop)
        if timer is not None:
            timer.cancel()
        fleet.progress()
        unsent = await sink.close(shipping, timeout_s=10.0)
        if publishing is not None and not publishing.done():
            await asyncio.wait({publishing}, timeout=2.0)
            publishing.cancel()
        result = summary(fleet, clock, time.monotonic() - t_real0, unsent)
        write_summary(settings.summary_path, result)
        log.info("summary written", extra={"path": str(settings.summary_path)})
        return result
    finally:
        for ch in channels:
            await ch.close()
        if producer is not None:
            producer.close(5.0)


def parse_args(argv: list[str] | None) -> dict[str, Any]:
    """Command-line overrides of the settings."""
    p = argparse.ArgumentParser(description="Reelstream player-fleet simulator")
    p.add_argument(
        "--duration", type=float, dest="duration_s", help="real seconds; 0 = until signal"
    )
    p.add_argument("--users", type=int)
    p.add_argument("--titles", type=int)
    p.add_argument("--speed", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--summary", dest="summary_path")
    p.add_argument("--trace-dir", dest="trace_dir")
    return {k: v for k, v in vars(p.parse_args(argv)).items() if v is not None}


async def amain(settings: SimulatorSettings) -> None:
    """Serve ``/metrics``, run until SIGTERM/SIGINT or the duration."""
    port = serve_metrics(settings.metrics_host, settings.metrics_port)
    log.info("metrics", extra={"port": port})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_simulator(settings, stop)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    overrides = parse_args(argv)
    settings = SimulatorSettings(**overrides)
    logs.configure("simulator", settings.log_level, settings.log_json)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(settings))
    sys.exit(0)


if __name__ == "__main__":
    main()
