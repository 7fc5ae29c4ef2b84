"""Recommendation entry point: settings → model host (snapshot + consume) → servicer → gRPC → run."""

from __future__ import annotations

from reelstream.platform.modelhost import ModelHost, serve_model_service
from reelstream.platform.server import ServiceRuntime, run_service
from reelstream.platform.topics import TopicNames
from reelstream.recommendation.v1 import recommendation_pb2, recommendation_pb2_grpc
from services.recommendation.learner import RecoState
from services.recommendation.servicer import RecommendationServicer
from services.recommendation.settings import RecommendationSettings


async def serve(settings: RecommendationSettings) -> tuple[ServiceRuntime, ModelHost[RecoState]]:
    """Start the service; it learns from the catalog and playback topics."""
    names = TopicNames(settings.topic_prefix)
    return await serve_model_service(
        settings,
        "recommendation",
        [names.catalog, names.playback],
        lambda: RecoState(settings.max_users, settings.idle_ttl_days),
        (
            recommendation_pb2.DESCRIPTOR.services_by_name["RecommendationService"].full_name,
            recommendation_pb2_grpc.add_RecommendationServiceServicer_to_server,
            lambda state: RecommendationServicer(state, settings.max_k),
        ),
    )


if __name__ == "__main__":
    run_service(RecommendationSettings(), "recommendation", serve)
