"""The world viewers share: their state, the services they call, and the subscription lifecycle."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from reelstream.abr.v1 import abr_pb2
from reelstream.common.v1 import types_pb2 as types
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.subscription.v1 import events_pb2 as sub_pb
from services.simulator import metrics
from services.simulator.arms import (
    ABR_BUFFER_BASED,
    ABR_LEARNED,
    REC_LEARNED,
    REC_POPULARITY,
    Assignment,
)
from services.simulator.catalog import REGIONS, Catalog
from services.simulator.choice import ChoiceModel, WatchModel, WatchPlan
from services.simulator.clients import AbrClient, RecClient
from services.simulator.events import EventFactory
from services.simulator.hazard import Recent
from services.simulator.network import Trace, synth_trace
from services.simulator.player import CHUNK_S
from services.simulator.population import Population, next_sitting
from services.simulator.sink import TelemetrySink
from services.simulator.stats import UserStats

FIRST_RUNG = 1  # Pensieve's default start (750 kbps) when nobody says otherwise
PLANS = (sub_pb.PLAN_BASIC, sub_pb.PLAN_STANDARD, sub_pb.PLAN_PREMIUM)


class Phase(IntEnum):
    """What the viewer's next action is."""

    SIGNUP = 0
    IDLE = 1  # next: open the app for a new sitting
    BROWSE = 2  # next: back to the home screen within a sitting
    CHUNK = 3
    RESUME = 4
    END = 5


@dataclass(slots=True)
class Viewing:
    """One playback session of one title."""

    session_id: str
    title: int
    duration_s: float
    plan: WatchPlan
    taste: float
    chunk: int  # index of the next chunk to fetch
    row_id: str
    first_rung: int = FIRST_RUNG
    abr_arm: str = ABR_BUFFER_BASED  # this session's ABR arm
    abr_on: bool = False  # the session is in the learned-ABR arm: ask the service
    buffer_s: float = 0.0
    startup: bool = True
    after_seek: bool = False
    last_rung: int = -1
    last_obs: abr_pb2.ChunkObservation | None = None
    last_hb: float = 0.0
    watched_s: float = 0.0
    rebuffer_s: float = 0.0
    kbps_s: float = 0.0
    fetched_s: float = 0.0

    @property
    def position_s(self) -> float:
        """Playhead: downloaded content minus what waits in the buffer."""
        return max(self.chunk * CHUNK_S - self.buffer_s, 0.0)


@dataclass(slots=True)
class ViewerState:
    """Per-subscriber mutable state (bounded: a few dicts capped by the catalogue size)."""

    rng: np.random.Generator
    client: pb.ClientInfo
    rec_arm: str  # the recommendation arm (ABR arms are drawn per session)
    phase: Phase = Phase.SIGNUP
    plan: int = sub_pb.PLAN_STANDARD
    active: bool = False
    cancelled: bool = False
    cancel_pending: bool = False
    sitting_end: float = 0.0
    trace: Trace | None = None
    net_t0: float = 0.0
    viewing: Viewing | None = None
    resume_at: dict[int, float] = field(default_factory=dict)  # last 8 unfinished titles
    seen: set[int] = field(default_factory=set)  # finished or skipped


@dataclass
class Services:
    """What viewers talk to: telemetry (via the sink) and the two model services."""

    sink: TelemetrySink
    rec: RecClient
    abr: AbrClient
    factory: EventFactory


class World:
    """The shared world: catalogue, population, per-viewer state, services, outcomes."""

    def __init__(
        self,
        catalog: Catalog,
        population: Population,
        states: list[ViewerState],
        services: Services,
        stats: UserStats,
        recent: Recent,
        mean_sitting_s: float = 2700.0,
        traces: list[Trace] | None = None,
        assignment: Assignment | None = None,
    ) -> None:
        self.cat = catalog
        self.pop = population
        self.states = states
        self.svc = services
        self.stats = stats
        self.recent = recent
        self.mean_sitting_s = mean_sitting_s
        self.traces = traces or []
        self.assignment = assignment or Assignment()
        self.choice = ChoiceModel()
        self.watch = WatchModel()
        self.viewing_now = 0
        self.abr_decisions: Counter[str] = Counter()  # who chose each chunk's rung
        arms = (
            ("rec", REC_LEARNED),
            ("rec", REC_POPULARITY),
            ("abr", ABR_LEARNED),
            ("abr", ABR_BUFFER_BASED),
        )
        self.watched_metric = {(e, a): metrics.WATCHED_SECONDS.labels(e, a) for e, a in arms}
        self.rebuffer_metric = {
            a: metrics.REBUFFER_SECONDS.labels(a) for a in (ABR_LEARNED, ABR_BUFFER_BASED)
        }

    # -- subscription lifecycle -----------------------------------------------------------------

    def region_code(self, u: int) -> str:
        return REGIONS[int(self.pop.region[u])]

    def signup(self, u: int, t: float) -> float | None:
        """Start the subscription; return the first sitting's time."""
        st = self.states[u]
        st.active, st.phase = True, Phase.IDLE
        self.stats.signup_s[u] = t
        st.plan = int(st.rng.choice(PLANS, p=[0.3, 0.5, 0.2]))
        self.svc.sink.emit_subscription(
            self.svc.factory.subscription(
                self.pop.ids[u], t, self.region_code(u), "signup", plan=st.plan, channel="web"
            )
        )
        metrics.SIGNUPS.inc()
        return self.next_sitting_time(u, t)

    def cancel(self, u: int, t: float, reason: str = "simulated") -> None:
        """Cancel now (the fleet calls this for idle viewers; busy ones cancel at their end)."""
        st = self.states[u]
        if st.cancelled:
            return
        st.cancelled, st.cancel_pending = True, False
        self.stats.cancel_s[u] = t
        self.svc.sink.emit_subscription(
            self.svc.factory.subscription(
                self.pop.ids[u], t, self.region_code(u), "cancel", reason=reason
            )
        )
        metrics.CANCELLATIONS.labels(st.rec_arm).inc()

    def change_plan(self, u: int, t: float) -> None:
        """Move one step up or down the plan ladder (billing's plan-change event)."""
        st = self.states[u]
        i = PLANS.index(st.plan)
        j = min(max(i + (1 if st.rng.random() < 0.5 else -1), 0), len(PLANS) - 1)
        if j == i:
            return
        self.svc.sink.emit_subscription(
            self.svc.factory.subscription(
                self.pop.ids[u],
                t,
                self.region_code(u),
                "plan_change",
                from_plan=st.plan,
                to_plan=PLANS[j],
            )
        )
        st.plan = PLANS[j]

    def is_idle(self, u: int) -> bool:
        """Between sittings (safe to cancel right away)."""
        return self.states[u].phase == Phase.IDLE

    def next_sitting_time(self, u: int, t: float) -> float | None:
        st = self.states[u]
        if st.cancel_pending:
            self.cancel(u, t)
            return None
        st.phase = Phase.IDLE
        p = self.pop
        return next_sitting(
            st.rng,
            t,
            float(p.sittings_per_day[u]),
            float(p.prime_hour[u]),
            float(p.hour_spread[u]),
            p.tz_hours(u),
        )

    # -- browsing -------------------------------------------------------------------------------
    @property
    def cat_index(self) -> dict[str, int]:
        """Title id -> row (built once)."""
        if not hasattr(self, "_cat_index"):
            self._cat_index = {tid: i for i, tid in enumerate(self.cat.ids)}
        return self._cat_index

    def trace_for(self, u: int, st: ViewerState) -> Trace:
        if self.traces:  # a household keeps its own real trace
            return self.traces[u % len(self.traces)]
        return synth_trace(st.rng, int(self.pop.network[u]), float(self.pop.bandwidth_scale[u]))

    def max_rung(self, u: int) -> int:
        # A phone screen gains nothing from the top rung.
        return 4 if int(self.pop.device[u]) == types.DEVICE_TYPE_MOBILE else -1

    # --------------------------------------------------------------------------------
