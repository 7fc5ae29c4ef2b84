"""Recommendation entry point: settings → snapshot/consume host → servicer → gRPC → run."""

from __future__ import annotations

import asyncio
import logging

from reelstream.platform import logs
from reelstream.platform.metrics import serve_metrics
from reelstream.platform.modelhost import ModelHost
from reelstream.platform.server import ServiceRuntime
from reelstream.platform.topics import TopicNames
from reelstream.recommendation.v1 import recommendation_pb2, recommendation_pb2_grpc

from services.recommendation.learner import RecoState
from services.recommendation.servicer import RecommendationServicer
from services.recommendation.settings import RecommendationSettings

log = logging.getLogger("recommendation")


async def serve(settings: RecommendationSettings) -> tuple[ServiceRuntime, ModelHost[RecoState]]:
    """Build and start the service; SERVING once the model is loaded and partitions assigned."""
    names = TopicNames(settings.topic_prefix)
    host = ModelHost(
        settings,
        "recommendation",
        [names.catalog, names.playback],
        lambda: RecoState(settings.max_users, settings.idle_ttl_days),
    )
    runtime = ServiceRuntime(
        "recommendation", settings.grpc_host, settings.grpc_port, grace_s=settings.shutdown_grace_s
    )
    runtime.add_service(
        recommendation_pb2.DESCRIPTOR.services_by_name["RecommendationService"].full_name,
        recommendation_pb2_grpc.add_RecommendationServiceServicer_to_server,
        RecommendationServicer(lambda: host.learner, settings.max_k),
    )
    await runtime.start()
    host.attach(runtime)
    return runtime, host


async def amain(settings: RecommendationSettings) -> None:
    """Run until SIGTERM/SIGINT."""
    port = serve_metrics(settings.metrics_host, settings.metrics_port)
    runtime, _host = await serve(settings)
    runtime.install_signal_handlers()
    log.info("recommendation started", extra={"grpc_port": runtime.port, "metrics_port": port})
    await runtime.wait_and_stop()


def main() -> None:
    """Console entry point."""
    settings = RecommendationSettings()
    logs.configure("recommendation", settings.log_level, settings.log_json)
    asyncio.run(amain(settings))


if __name__ == "__main__":
    main()
