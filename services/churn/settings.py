"""Churn settings: ``CHURN_*`` variables plus the shared Kafka ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reelstream.platform.settings import ModelServiceSettings


class ChurnSettings(ModelServiceSettings):
    """Ports, state, the label horizon, the action policy and where recommendations come from."""

    model_config = SettingsConfigDict(env_prefix="CHURN_", frozen=True, extra="ignore")

    grpc_port: int = Field(50054, ge=0, le=65535)
    metrics_port: int = Field(9104, ge=0, le=65535)
    horizon_days: float = Field(
        30.0, gt=0, description="a snapshot is positive if the user cancels within this many days"
    )
    action_threshold: float = Field(0.3, gt=0, lt=1, description="risk whose upward crossing acts")
    action_window_days: float = Field(
        7.0, gt=0, description="at most one action per user per window"
    )
    recommendation_addr: str = Field("127.0.0.1:50052", description="asked for retention content")
    recommendation_timeout_s: float = Field(0.3, gt=0)
    max_page_size: int = Field(500, ge=1)
