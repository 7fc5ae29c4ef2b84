"""The service's scheme as the benchmark builds it, and the ablation variants measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.abr.engine import AbrEngine
from services.abr.planner import MpcPlanner
from services.abr.predictor import ThroughputPredictor
from services.abr.qoe import QoE
from services.abr.session import SessionStore


@dataclass(frozen=True)
class Variant:
    """One configuration of the service's predictor + planner."""

    label: str
    what: str
    levels: tuple[float, ...] = (0.05, 0.2, 0.5, 0.8, 0.95)
    horizon: int = 5
    terminal_weight: float = 0.3
    terminal_buffer_s: float = 20.0
    session_scale: float = 0.0
    forgetting: float = 0.9999
    warmup: bool = True
    extra: dict[str, float] = field(default_factory=dict)

    def build(self, ladder_kbps: tuple[float, ...]) -> AbrEngine:
        """A fresh engine for this configuration."""
        planner = MpcPlanner(
            QoE.linear(ladder_kbps),
            horizon=self.horizon,
            terminal_weight=self.terminal_weight,
            terminal_buffer_s=self.terminal_buffer_s,
        )
        return AbrEngine(
            ladder_kbps,
            planner=planner,
            predictor=ThroughputPredictor(forgetting=self.forgetting),
            store=SessionStore(idle_ttl_s=3600.0, max_sessions=1000),
            scenario_levels=self.levels,
            session_scale=self.session_scale,
        )


DEFAULT = Variant("service", "chosen configuration")

# Every idea measured, in the order tried; the runner re-measures each one.
ABLATION = (
    Variant("median only", "point forecast (RLS median), no uncertainty", levels=(0.5,), terminal_weight=0.0),
    Variant("q .1-.9", "expected QoE over error quantiles .1/.3/.5/.7/.9", levels=(0.1, 0.3, 0.5, 0.7, 0.9), terminal_weight=0.0),
    Variant("q .2/.5/.8", "three central quantiles", levels=(0.2, 0.5, 0.8), terminal_weight=0.0),
    Variant("q .05-.95", "wider tails .05/.2/.5/.8/.95", terminal_weight=0.0),
    Variant("q .01-.8", "heavier low tail .01/.05/.2/.5/.8", levels=(0.01, 0.05, 0.2, 0.5, 0.8), terminal_weight=0.0),
    Variant("+terminal 0.3", "q .05-.95 + terminal buffer value 0.3/s up to 20 s"),
    Variant("no warm-up", "as chosen, population model not warmed on cooked_traces", warmup=False),
)
