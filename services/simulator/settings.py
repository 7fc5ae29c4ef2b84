"""Simulator settings: environment variables prefixed ``SIMULATOR_`` (plus shared Kafka ones).

>>> s = SimulatorSettings(users=10, titles=50)
>>> s.users, s.recommendation_addr, s.metrics_port
(10, '127.0.0.1:50052', 9106)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reelstream.platform.settings import ServiceSettings


class SimulatorSettings(ServiceSettings):
    """Who the fleet is, how fast time runs, and where the services are."""

    model_config = SettingsConfigDict(env_prefix="SIMULATOR_", frozen=True, extra="ignore")

    telemetry_addr: str = "127.0.0.1:50051"
    recommendation_addr: str = "127.0.0.1:50052"
    abr_addr: str = "127.0.0.1:50053"
    metrics_port: int = Field(9106, ge=0, le=65535)
    users: int = Field(2000, ge=1, description="subscribers at the start")
    titles: int = Field(3000, ge=20)
    speed: float = Field(1000.0, gt=0, description="simulated seconds per real second (a cap)")
    duration_s: float = Field(0.0, ge=0, description="real seconds to run; 0 = until a signal")
    max_sim_days: float = Field(
        29.0, gt=0, le=29.0, description="simulated span; telemetry drops events > 30 days old"
    )
    seed: int = 7
    trace_dir: Path | None = Field(
        None, description="real bandwidth traces (time_s throughput_Mbps); default synthetic"
    )
    summary_path: Path = Path("run/simulator_summary.json")
    abr_learned_share: float = Field(
        0.25, ge=0, le=1, description="share of playback sessions the abr service decides"
    )
    rec_pre_period_h: float = Field(
        12.0, ge=0, description="simulated hours everyone gets popularity rows (CUPED covariate)"
    )
    mean_sitting_minutes: float = Field(45.0, gt=0, description="viewing time per sitting")
    signups_per_day: float = Field(0.005, ge=0, description="new subscribers/day per initial one")
    batch_events: int = Field(500, ge=1, le=10_000)
    max_in_flight_batches: int = Field(16, ge=1)
    max_concurrency: int = Field(256, ge=1, description="RPC-bound viewer actions at once")
    max_skew_s: float = Field(
        600.0, gt=0, description="simulated seconds a viewer may run ahead of one awaiting an RPC"
    )
    rpc_timeout_s: float = Field(0.5, gt=0)
    breaker_cooldown_s: float = Field(
        2.0, gt=0, description="simulated seconds an app waits before retrying a failing service"
    )
    progress_interval_s: float = Field(5.0, gt=0)
    publish_catalog: bool = True
