"""Features settings: ``FEATURES_*`` variables plus the shared Kafka ones."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reelstream.platform.settings import ServiceSettings


class FeaturesSettings(ServiceSettings):
    """The faust worker's identity, state directory and windowing policy."""

    model_config = SettingsConfigDict(env_prefix="FEATURES_", frozen=True, extra="ignore")

    app_id: str = "reelstream-features"
    metrics_port: int = Field(9105, ge=0, le=65535)
    web_port: int = Field(6066, ge=0, le=65535, description="faust's own web server")
    data_dir: Path = Path(".local/features")
    lateness_hours: float = Field(48.0, ge=0, description="events later than this are dropped")
    emit_interval_hours: float = Field(
        6.0, ge=0, description="min event time between change snapshots"
    )
    tick_interval_s: float = Field(5.0, gt=0, description="wall seconds between daily-tick sweeps")
    standby_replicas: int = Field(0, ge=0, le=2)
