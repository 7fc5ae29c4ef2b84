"""The simulator's world wired to an in-process recommendation service (no Kafka, no gRPC)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, cast

import numpy as np
from confluent_kafka import Message

from reelstream.platform.topics import TopicNames
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.recommendation.v1 import recommendation_pb2 as rec_pb
from reelstream.subscription.v1 import events_pb2 as sub_pb
from services.recommendation.events import device_name
from services.recommendation.learner import RecoState
from services.recommendation.model import Recommender, UserStore
from services.recommendation.servicer import RecommendationServicer
from services.simulator.__main__ import build_states
from services.simulator.catalog import Catalog
from services.simulator.clients import AbrClient, RecClient
from services.simulator.clock import SimClock
from services.simulator.events import EventFactory
from services.simulator.fleet import DAY_S, Fleet, FleetConfig
from services.simulator.hazard import HazardModel, Recent
from services.simulator.population import Population, taste
from services.simulator.sink import TelemetrySink
from services.simulator.stats import UserStats
from services.simulator.viewer import Viewers
from services.simulator.world import Services

END_S = 1_790_000_000.0  # a fixed "now" (the live clock uses the real one): runs repeat exactly
# Kinds RecoState.apply learns from; the rest (chunks, heartbeats...) only bump a counter.
FEEDBACK_KINDS = frozenset(("impression", "play", "complete", "stop", "skip", "rating", "click"))
TOPICS = TopicNames()


def row_kind(row_id: str) -> str:
    """``"byw:title-1"`` -> ``"byw"``: the kind of a home row from its id.

    >>> row_kind("byw:title-00001"), row_kind("top"), row_kind("popular:3")
    ('byw', 'top', 'popular')
    """
    return row_id.split(":", 1)[0]


class InProcessSink:
    """Telemetry plus Kafka, collapsed: each event is applied to the model as it is emitted."""

    def __init__(self, state: RecoState, arm_of: dict[str, str]) -> None:
        self.state = state
        self.arm_of = arm_of
        self.backlog = 0
        self.sent: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.clicks: dict[str, Counter[str]] = defaultdict(Counter)  # arm -> row kind -> n

    def emit(self, ev: pb.PlaybackEvent, kind: str) -> None:
        self.sent[kind] += 1
        if kind not in FEEDBACK_KINDS:
            return
        if kind == "click":
            self.clicks[self.arm_of[ev.user_id]][row_kind(ev.click.row_id)] += 1
        self.state.apply(Message(topic=TOPICS.playback, value=ev.SerializeToString()))

    def emit_subscription(self, ev: sub_pb.SubscriptionEvent) -> None:
        self.sent["subscription"] += 1


class InProcessRec:
    """The app's recommendation client, answered by the service's own HomeRows handler."""

    def __init__(self, servicer: RecommendationServicer) -> None:
        self.servicer = servicer
        self.service = "recommendation"
        self.calls = self.errors = self.fallbacks = 0
        self.last: dict[str, rec_pb.HomeRowsResponse] = {}  # user id -> last rows served

    def available(self) -> bool:
        return True

    def usable(self) -> bool:
        return True

    def fallback(self) -> None:
        self.fallbacks += 1

    async def home_rows(self, request: rec_pb.HomeRowsRequest) -> rec_pb.HomeRowsResponse:
        self.calls += 1
        resp: rec_pb.HomeRowsResponse = await self.servicer.HomeRows(request, cast(Any, None))
        self.last[request.user_id] = resp
        return resp


class NoAbr(AbrClient):
    """No abr service: every session plays with client-side BBA (same for both rec arms).

    The app's own client with no channel, always reporting the service as down,
    so every abr call site takes the fallback the simulator already has.
    """

    def __init__(self) -> None:
        super().__init__(cast(Any, None))

    def available(self) -> bool:
        return False

    def usable(self) -> bool:
        return False


class RecordingStats(UserStats):
    """The simulator's per-user totals, plus per-arm diagnostics of every home screen."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.world: Viewers | None = None
        self.rec: InProcessRec | None = None
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)

    def visit(self, u: int, shown_taste: float | None, picked_taste: float | None) -> None:
        w, rec = self.world, self.rec
        if w is not None and rec is not None:
            self._diagnose(w, rec, u, picked_taste is not None)
        super().visit(u, shown_taste, picked_taste)

    def _diagnose(self, w: Viewers, rec: InProcessRec, u: int, found: bool) -> None:
        st = w.states[u]
        c = self.counts[st.rec_arm]
        prior = self.found[u]  # visits that ended in a play before this one
        bucket = "0" if prior == 0 else "1-2" if prior <= 2 else "3-9" if prior <= 9 else "10+"
        c[f"visits[{bucket}]"] += 1
        c[f"found[{bucket}]"] += int(found)
        resp = rec.last.get(w.pop.ids[u])
        if resp is None:
            return
        index = w.cat_index
        ids = [index[t.title_id] for row in resp.rows for t in row.titles]
        items = np.asarray(ids, dtype=np.int64)
        if len(items):
            tastes = taste(w.pop, w.cat, u, items)
            kinds = [row_kind(row.row_id) for row in resp.rows for _ in row.titles]
            for kind, x in zip(kinds, tastes.tolist(), strict=True):
                c[f"taste_sum[{kind}]"] += round(1000 * x)  # integer milli-taste: Counter-safe
                c[f"taste_n[{kind}]"] += 1
        c["rows"] += len(resp.rows)
        c["slots"] += len(ids)
        c["distinct"] += len(set(ids))
        if len(items):
            region, mat = int(w.pop.region[u]), int(w.pop.max_maturity[u])
            cat = w.cat
            ok = cat.region_ok[items, region] & (cat.maturity[items] <= mat)
            c["unplayable"] += int((~ok).sum())
            c["seen"] += sum(i in st.seen for i in ids)

    def diag(self, arm: str) -> dict[str, int]:
        return dict(self.counts[arm])


KINDS = {
    "continue": (rec_pb.ROW_KIND_CONTINUE_WATCHING, "Continue watching", "unfinished"),
    "top": (rec_pb.ROW_KIND_TOP_PICKS, "Top picks for you", "for you"),
    "byw": (rec_pb.ROW_KIND_BECAUSE_YOU_WATCHED, "Because you watched", "similar"),
    "new": (rec_pb.ROW_KIND_NEW_FOR_YOU, "New for you", "new"),
    "trending": (rec_pb.ROW_KIND_TRENDING, "Trending", "trending"),
    "genre": (rec_pb.ROW_KIND_GENRE, "Genre", "genre"),
}


class HomeLayoutServicer(RecommendationServicer):
    """The servicer with its learned rows from `model.home.home_rows` (the proposed layout)."""

    def _learned_rows(
        self, st: RecoState, req: rec_pb.HomeRowsRequest, per_row: int, max_rows: int
    ) -> list[rec_pb.Row]:
        from services.recommendation.model.home import home_rows  # absent in older models

        ctx = req.context
        mask = self._mask(st, req.filter)
        rows = home_rows(
            st.model, req.user_id, per_row, max_rows, ctx.region, device_name(ctx.device_type), mask
        )
        out = []
        for row in rows:
            kind, title, reason = KINDS[row.kind]
            out.append(
                rec_pb.Row(
                    row_id=f"{row.kind}:{row.about}" if row.about else row.kind,
                    kind=kind,
                    title=title,
                    titles=[
                        rec_pb.ScoredTitle(title_id=str(t), score=s, reason=reason)
                        for t, s in row.items
                    ],
                )
            )
        return out


def publish_titles(state: RecoState, cat: Catalog, rows: np.ndarray) -> None:
    """What the CMS does: one catalog record per title, applied by the service's handler."""
    for r in rows.tolist():
        state.apply(Message(topic=TOPICS.catalog, value=cat.to_proto(r).SerializeToString()))


def build_world(
    users: int,
    titles: int,
    days: float,
    seed: int,
    model: dict[str, Any] | None = None,
    layout: str = "service",
) -> tuple[Viewers, Fleet, RecoState, InProcessRec, InProcessSink]:
    """The simulator's world as ``services.simulator`` builds it, on in-process services.

    ``model`` overrides `Recommender` parameters (for ablations); by default the
    service's own `RecoState()` is used as is. ``layout="model"`` serves the learned
    arm's rows from `model.home.home_rows` instead of the servicer's own composition.
    """
    span = days * DAY_S
    clock = SimClock(3000.0, span, real=lambda: END_S, monotonic=lambda: 0.0)
    rng = np.random.default_rng(seed)
    catalog = Catalog.generate(titles, rng, start_s=clock.start, span_s=span)
    reserve = math.ceil(users * 0.005 * span / DAY_S * 1.5) + 1
    population = Population.generate(users + reserve, rng)
    factory = EventFactory(f"bench{seed}")
    states = build_states(population, factory, seed)
    arm_of = {population.ids[u]: s.rec_arm for u, s in enumerate(states)}
    state = RecoState()
    if model:
        store = state.model.users
        state.model = Recommender(users=UserStore(store.max_users, store.idle_ttl_s), **model)
    sink = InProcessSink(state, arm_of)
    servicer = HomeLayoutServicer if layout == "model" else RecommendationServicer
    rec = InProcessRec(servicer(lambda: state))
    services = Services(cast(TelemetrySink, sink), cast(RecClient, rec), NoAbr(), factory)
    hazard = HazardModel()
    stats = RecordingStats(len(population))
    viewers = Viewers(
        catalog,
        population,
        states,
        services,
        stats,
        Recent(len(population), hazard),
        mean_sitting_s=45 * 60.0,
    )
    stats.world, stats.rec = viewers, rec
    config = FleetConfig(initial_users=users, seed=seed)
    fleet = Fleet(viewers, clock, cast(TelemetrySink, sink), None, config, hazard)
    return viewers, fleet, state, rec, sink
