"""Recommendation settings: ``RECOMMENDATION_*`` variables plus the shared Kafka ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reelstream.platform.settings import ModelServiceSettings


class RecommendationSettings(ModelServiceSettings):
    """Ports, state location and the memory bounds of the recommendation service."""

    model_config = SettingsConfigDict(env_prefix="RECOMMENDATION_", frozen=True, extra="ignore")

    grpc_port: int = Field(50052, ge=0, le=65535)
    metrics_port: int = Field(9102, ge=0, le=65535)
    max_users: int = Field(200_000, ge=1, description="LRU cap on viewers kept in memory")
    idle_ttl_days: float = Field(60.0, gt=0, description="viewers idle this long are forgotten")
    max_k: int = Field(200, ge=1, description="largest k a request may ask for")
