"""ABR entry point: settings → model host (snapshot + consume) → servicer → gRPC → run."""

from __future__ import annotations

from reelstream.abr.v1 import abr_pb2, abr_pb2_grpc
from reelstream.platform.modelhost import ModelHost, serve_model_service
from reelstream.platform.server import ServiceRuntime, run_service
from reelstream.platform.topics import TopicNames
from services.abr import mpc_kernel
from services.abr.learner import AbrState
from services.abr.servicer import AbrServicer
from services.abr.settings import AbrSettings


async def serve(settings: AbrSettings) -> tuple[ServiceRuntime, ModelHost[AbrState]]:
    """Start the service; it learns from chunk downloads on the playback topic."""
    mpc_kernel.warm_up()
    return await serve_model_service(
        settings,
        "abr",
        [TopicNames(settings.topic_prefix).playback],
        lambda: AbrState(settings.ladder_kbps, settings.chunk_s, settings.max_sessions),
        (
            abr_pb2.DESCRIPTOR.services_by_name["AbrService"].full_name,
            abr_pb2_grpc.add_AbrServiceServicer_to_server,
            AbrServicer,
        ),
    )


if __name__ == "__main__":
    run_service(AbrSettings(), "abr", serve)
