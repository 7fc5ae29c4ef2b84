"""Telemetry entry point: settings → Kafka producer → ingestor → gRPC server → run."""

from __future__ import annotations

import logging

from reelstream.platform.producer import DurableProducer
from reelstream.platform.server import ServiceRuntime, run_service
from reelstream.platform.topics import TopicNames
from reelstream.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc
from services.telemetry.ingest import Ingestor
from services.telemetry.servicer import TelemetryServicer
from services.telemetry.settings import TelemetrySettings
from services.telemetry.validation import Limits

log = logging.getLogger("telemetry")


async def serve(settings: TelemetrySettings) -> tuple[ServiceRuntime, Ingestor]:
    """Build and start telemetry; return the running runtime (tests stop it themselves)."""
    producer = DurableProducer(
        settings.kafka_bootstrap, "telemetry", delivery_timeout_ms=settings.delivery_timeout_ms
    )
    limits = Limits(max_future_ms=settings.max_future_ms, max_past_ms=settings.max_past_ms)
    ingestor = Ingestor(
        producer,
        TopicNames(settings.topic_prefix),
        limits,
        max_batch_events=settings.max_batch_events,
    )
    runtime = ServiceRuntime(
        "telemetry", settings.grpc_host, settings.grpc_port, grace_s=settings.shutdown_grace_s
    )
    runtime.add_service(
        telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"].full_name,
        telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server,
        TelemetryServicer(ingestor, settings.max_in_flight_batches),
    )
    runtime.on_shutdown(lambda: log.info("flushed", extra={"left": producer.close()}))
    await runtime.start()
    # Stateless: ready as soon as it listens (Kafka outages surface per RPC as UNAVAILABLE).
    await runtime.set_serving(True)
    return runtime, ingestor


if __name__ == "__main__":
    run_service(TelemetrySettings(), "telemetry", serve)
