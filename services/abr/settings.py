"""ABR settings: ``ABR_*`` variables plus the shared Kafka ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reelstream.platform.settings import ModelServiceSettings


class AbrSettings(ModelServiceSettings):
    """Ports, state location, the default ladder and the session bound of the ABR service."""

    model_config = SettingsConfigDict(env_prefix="ABR_", frozen=True, extra="ignore")

    grpc_port: int = Field(50053, ge=0, le=65535)
    metrics_port: int = Field(9103, ge=0, le=65535)
    ladder_kbps: tuple[int, ...] = (300, 750, 1200, 1850, 2850, 4300)
    chunk_s: float = Field(4.0, gt=0)
    max_sessions: int = Field(100_000, ge=1, description="per-session bookkeeping kept at most")
