"""Telemetry settings: environment variables prefixed ``TELEMETRY_`` (plus shared Kafka ones)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reelstream.platform.settings import ServiceSettings


class TelemetrySettings(ServiceSettings):
    """Where telemetry listens and how long it waits for Kafka before answering UNAVAILABLE."""

    model_config = SettingsConfigDict(env_prefix="TELEMETRY_", frozen=True, extra="ignore")

    grpc_port: int = Field(50051, ge=0, le=65535)
    metrics_port: int = Field(9101, ge=0, le=65535)
    delivery_timeout_ms: int = Field(
        8_000, ge=1_000, description="bounded wait for Kafka; past it the RPC fails UNAVAILABLE"
    )
    max_batch_events: int = Field(10_000, ge=1)
    max_in_flight_batches: int = Field(32, ge=1, description="per stream, pipelined")
    max_future_ms: int = Field(5 * 60_000, ge=0)
    max_past_ms: int = Field(30 * 86_400_000, ge=0)
