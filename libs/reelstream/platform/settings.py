"""Validated, frozen service settings loaded from the environment once, in ``main()``.

Every service subclasses :class:`ServiceSettings` with its own ``env_prefix``
(``TELEMETRY_``, ``RECOMMENDATION_`` ...). The Kafka address and the topic
prefix are shared by all services, so they read unprefixed variables.

>>> s = ServiceSettings(grpc_port=0, metrics_port=0, kafka_bootstrap="127.0.0.1:1")
>>> s.kafka_bootstrap, s.topic_prefix
('127.0.0.1:1', '')
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs: where Kafka is, where to listen, where to snapshot."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("kafka_bootstrap", "KAFKA_BOOTSTRAP"),
        description="Kafka bootstrap servers, host:port[,host:port]",
    )
    topic_prefix: str = Field(
        "",
        validation_alias=AliasChoices("topic_prefix", "REELSTREAM_TOPIC_PREFIX"),
        description="prepended to every topic name (tests use a unique one per test)",
    )
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9100, ge=0, le=65535)
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_json: bool = True
    shutdown_grace_s: float = Field(5.0, ge=0)
    blas_threads: int = Field(
        1,
        ge=1,
        le=256,
        description="BLAS threads for numpy (a request is one thread; pools spin on other cores)",
    )
    cpu_priority: str = Field(
        "normal",
        pattern="^(normal|realtime)$",
        description=(
            "realtime: run under SCHED_RR so request handling preempts whatever else shares the"
            " cores (needs CAP_SYS_NICE; without it the service warns and runs at normal)"
        ),
    )


class ModelServiceSettings(ServiceSettings):
    """A service that learns from Kafka and snapshots its model with the offsets."""

    consumer_group: str = ""
    snapshot_dir: Path = Path(".local/snapshots")
    snapshot_interval_s: float = Field(30.0, gt=0)
    max_poll_records: int = Field(500, ge=1, le=100_000)
    apply_slice_ms: float = Field(2.0, gt=0, description="yield to gRPC after this long applying")
