"""Churn entry point: settings → model host (snapshot + consume) → servicer → action publisher → run."""

from __future__ import annotations

import logging

from reelstream.churn.v1 import churn_pb2, churn_pb2_grpc
from reelstream.platform.modelhost import ModelHost, serve_model_service
from reelstream.platform.producer import DurableProducer
from reelstream.platform.server import ServiceRuntime, run_service
from reelstream.platform.topics import TopicNames
from services.churn.learner import ChurnState
from services.churn.publisher import ActionPublisher
from services.churn.servicer import ChurnServicer
from services.churn.settings import ChurnSettings

log = logging.getLogger("churn")


async def serve(settings: ChurnSettings) -> tuple[ServiceRuntime, ModelHost[ChurnState]]:
    """Start the service: learns from engagement snapshots and cancellations, emits actions."""
    names = TopicNames(settings.topic_prefix)
    runtime, host = await serve_model_service(
        settings,
        "churn",
        [names.engagement, names.subscription],
        lambda: ChurnState(
            settings.action_threshold, settings.action_window_days, settings.horizon_days
        ),
        (
            churn_pb2.DESCRIPTOR.services_by_name["ChurnService"].full_name,
            churn_pb2_grpc.add_ChurnServiceServicer_to_server,
            lambda state: ChurnServicer(state, settings.max_page_size),
        ),
    )
    producer = DurableProducer(settings.kafka_bootstrap, "churn-actions")
    publisher = ActionPublisher(
        lambda: host.learner,
        producer,
        names.retention_actions,
        settings.recommendation_addr,
        settings.recommendation_timeout_s,
    )
    runtime.spawn(publisher.run(runtime.stop_event), "churn-actions")
    runtime.on_shutdown(lambda: log.info("actions flushed", extra={"left": producer.close()}))
    return runtime, host


if __name__ == "__main__":
    run_service(ChurnSettings(), "churn", serve)
