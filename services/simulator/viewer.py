"""One subscriber's app as a state machine: open, browse rows, pick, play chunk by chunk, end.

Every action happens at a simulated time ``t`` and returns when the viewer's
next action is due (the fleet keeps those in a heap), so a viewer costs
nothing between actions and a run can go 1000x faster than real time. A
viewer has one action pending at a time, so its events are emitted in order.

The viewer only ever talks to the services through :class:`RecClient` and
:class:`AbrClient`, and degrades like a real app when they fail: the built-in
default row instead of recommendations, client-side BBA instead of the abr
service's choice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from reelstream.abr.v1 import abr_pb2
from reelstream.common.v1 import types_pb2 as types
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.recommendation.v1 import recommendation_pb2 as rec_pb
from reelstream.subscription.v1 import events_pb2 as sub_pb
from services.simulator import metrics
from services.simulator.arms import (
    ABR_BUFFER_BASED,
    ABR_LEARNED,
    REC_LEARNED,
    REC_POPULARITY,
    rec_variant,
)
from services.simulator.catalog import REGIONS, Catalog
from services.simulator.choice import (
    ChoiceModel,
    WatchModel,
    WatchPlan,
    continue_probability,
    rating,
)
from services.simulator.clients import AbrClient, RecClient
from services.simulator.events import EventFactory
from services.simulator.hazard import Recent
from services.simulator.network import RTT_S, Trace, synth_trace
from services.simulator.player import (
    CHUNK_S,
    LADDER_KBPS,
    advance,
    bba_rung,
    chunk_bytes,
    sizes_ahead,
)
from services.simulator.population import Population, next_sitting, taste
from services.simulator.sink import TelemetrySink
from services.simulator.stats import UserStats

HEARTBEAT_S = 30.0
CHUNK_TIMEOUT_S = 30.0  # a player abandons a chunk request this slow and refetches at rung 0
FIRST_RUNG = 1  # Pensieve's default start (750 kbps) when nobody says otherwise
P_PAUSE = 0.002  # per chunk
P_SEEK = 0.0008
BIG_SCREENS = frozenset(
    {types.DEVICE_TYPE_TV, types.DEVICE_TYPE_CONSOLE, types.DEVICE_TYPE_STREAMING_STICK}
)


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
    abr_on: bool = False  # the viewer is in the learned-ABR arm: ask the service
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
    rec_arm: str
    abr_arm: str
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


class Viewers:
    """All viewers' actions over the shared world (catalogue, population, services, outcomes)."""

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
    ) -> None:
        self.cat = catalog
        self.pop = population
        self.states = states
        self.svc = services
        self.stats = stats
        self.recent = recent
        self.mean_sitting_s = mean_sitting_s
        self.traces = traces or []
        self.choice = ChoiceModel()
        self.watch = WatchModel()
        self.viewing_now = 0
        self.abr_decisions: Counter[str] = Counter()  # who chose each chunk's rung
        arms = (("rec", REC_LEARNED), ("rec", REC_POPULARITY), ("abr", ABR_LEARNED),
                ("abr", ABR_BUFFER_BASED))  # fmt: skip
        self._watched = {(e, a): metrics.WATCHED_SECONDS.labels(e, a) for e, a in arms}
        self._rebuffer = {
            a: metrics.REBUFFER_SECONDS.labels(a) for a in (ABR_LEARNED, ABR_BUFFER_BASED)
        }

    # -- scheduling hints -----------------------------------------------------------------------

    def needs_rpc(self, u: int) -> bool:
        """Will the next action call a service (so the fleet runs it as a concurrent task)?"""
        st = self.states[u]
        if st.phase in (Phase.IDLE, Phase.BROWSE):
            return self.svc.rec.usable() or (st.abr_arm == ABR_LEARNED and self.svc.abr.usable())
        if st.phase in (Phase.CHUNK, Phase.END) and st.viewing is not None:
            return st.viewing.abr_on and self.svc.abr.usable()
        return False

    async def act(self, u: int, t: float) -> float | None:
        """Run the viewer's pending action at simulated time ``t``; return the next one's time."""
        st = self.states[u]
        if st.cancelled:
            return None
        phase = st.phase
        if phase == Phase.CHUNK:
            return await self._chunk(u, st, t)
        if phase == Phase.RESUME:
            return self._resume(u, st, t)
        if phase == Phase.END:
            return await self._end(u, st, t)
        if phase == Phase.IDLE:
            return await self._browse(u, st, t, new_sitting=True)
        if phase == Phase.BROWSE:
            return await self._browse(u, st, t, new_sitting=False)
        return self.signup(u, t)

    # -- subscription lifecycle -----------------------------------------------------------------

    def _region(self, u: int) -> str:
        return REGIONS[int(self.pop.region[u])]

    def signup(self, u: int, t: float) -> float | None:
        """Start the subscription; return the first sitting's time."""
        st = self.states[u]
        st.active, st.phase = True, Phase.IDLE
        self.stats.signup_s[u] = t
        st.plan = int(st.rng.choice(PLANS, p=[0.3, 0.5, 0.2]))
        self.svc.sink.emit_subscription(
            self.svc.factory.subscription(
                self.pop.ids[u], t, self._region(u), "signup", plan=st.plan, channel="web"
            )
        )
        metrics.SIGNUPS.inc()
        return self._next_sitting(u, t)

    def cancel(self, u: int, t: float, reason: str = "simulated") -> None:
        """Cancel now (the fleet calls this for idle viewers; busy ones cancel at their end)."""
        st = self.states[u]
        if st.cancelled:
            return
        st.cancelled, st.cancel_pending = True, False
        self.stats.cancel_s[u] = t
        self.svc.sink.emit_subscription(
            self.svc.factory.subscription(
                self.pop.ids[u], t, self._region(u), "cancel", reason=reason
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
                self.pop.ids[u], t, self._region(u), "plan_change",
                from_plan=st.plan, to_plan=PLANS[j],
            )
        )  # fmt: skip
        st.plan = PLANS[j]

    def is_idle(self, u: int) -> bool:
        """Between sittings (safe to cancel right away)."""
        return self.states[u].phase == Phase.IDLE

    def _next_sitting(self, u: int, t: float) -> float | None:
        st = self.states[u]
        if st.cancel_pending:
            self.cancel(u, t)
            return None
        st.phase = Phase.IDLE
        p = self.pop
        return next_sitting(
            st.rng, t, float(p.sittings_per_day[u]), float(p.prime_hour[u]),
            float(p.hour_spread[u]), p.tz_hours(u),
        )  # fmt: skip

    # -- browsing -------------------------------------------------------------------------------

    async def _rows(self, u: int, st: ViewerState, t: float) -> list[tuple[str, str, np.ndarray]]:
        """(row id, request id, title rows) from the service, or the app's default row."""
        rec = self.svc.rec
        if rec.available():
            request = rec_pb.HomeRowsRequest(
                user_id=self.pop.ids[u],
                context=rec_pb.Context(
                    device_type=st.client.device_type,
                    region=st.client.region,
                    time_ms=int(t * 1000),
                ),
                max_rows=6,
                titles_per_row=10,
                filter=rec_pb.Filter(
                    max_maturity=int(self.pop.max_maturity[u]),  # type: ignore[arg-type]
                    available_in_region=True,
                ),
                variant=rec_variant(st.rec_arm),
            )
            resp = await rec.home_rows(request)
            if resp is not None:
                index = self.cat_index
                rows = []
                for row in resp.rows:
                    ids = [index[s.title_id] for s in row.titles if s.title_id in index]
                    if ids:
                        rows.append(
                            (row.row_id or f"row-{row.kind}", resp.request_id, np.array(ids))
                        )
                if rows:
                    return rows
        rec.fallback()
        titles = self.cat.default_list(
            int(self.pop.region[u]), int(self.pop.max_maturity[u]), t, 20
        )
        return [("default-popular", self.svc.factory.new_id("local-"), titles)]

    @property
    def cat_index(self) -> dict[str, int]:
        """Title id -> row (built once)."""
        if not hasattr(self, "_cat_index"):
            self._cat_index = {tid: i for i, tid in enumerate(self.cat.ids)}
        return self._cat_index

    async def _browse(
        self, u: int, st: ViewerState, t: float, *, new_sitting: bool
    ) -> float | None:
        rng, f, sink, uid = st.rng, self.svc.factory, self.svc.sink, self.pop.ids[u]
        if new_sitting:
            st.sitting_end = t + rng.lognormal(np.log(self.mean_sitting_s) - 0.18, 0.6)
            st.trace = self._trace(u, st)
            st.net_t0 = t - rng.uniform(0.0, st.trace.length_s)
        rows = await self._rows(u, st, t)
        items, row_of, pos_of = [], [], []
        tt = t
        for r, (row_id, request_id, titles) in enumerate(rows):
            ids = [self.cat.ids[i] for i in titles]
            positions = list(range(len(ids)))
            sink.emit(
                f.playback(uid, "", "", tt, st.client, "impression", row_id=row_id,
                           request_id=request_id, title_ids=ids, positions=positions),
                "impression",
            )  # fmt: skip
            tt += 0.3
            items.extend(titles.tolist())
            row_of.extend([r] * len(ids))
            pos_of.extend(positions)
        item_arr = np.asarray(items, dtype=np.int64)
        tastes = taste(self.pop, self.cat, u, item_arr) if len(items) else np.zeros(0)
        region, mat = int(self.pop.region[u]), int(self.pop.max_maturity[u])
        ok = (
            self.cat.region_ok[item_arr, region]
            & (self.cat.maturity[item_arr] <= mat)
            & (self.cat.release_s[item_arr] <= t)
        )
        choosable = np.where(ok, tastes, -np.inf)
        if st.seen:
            seen = np.fromiter((i in st.seen for i in items), bool, len(items))
            choosable = choosable - self.choice.rewatch_penalty * seen
        pick = self.choice.choose(
            rng, choosable, np.asarray(row_of), np.asarray(pos_of), float(self.pop.pickiness[u])
        )
        self.stats.visits[u] += 1
        self.recent.visit(u, pick is not None)
        metrics.VISITS.labels("true" if pick is not None else "false").inc()
        if pick is None:
            return self._next_sitting(u, tt + rng.uniform(5.0, 30.0))
        return await self._start(u, st, tt + rng.uniform(2.0, 15.0), pick, items, rows, row_of,
                                 pos_of, float(tastes[pick]))  # fmt: skip

    async def _start(
        self, u: int, st: ViewerState, t: float, pick: int, items: list[int],
        rows: list[tuple[str, str, np.ndarray]], row_of: list[int], pos_of: list[int],
        title_taste: float,
    ) -> float:  # fmt: skip
        rng, f, sink, uid = st.rng, self.svc.factory, self.svc.sink, self.pop.ids[u]
        title = items[pick]
        row_id, request_id, _ = rows[row_of[pick]]
        position = pos_of[pick]
        tid = self.cat.ids[title]
        duration = float(self.cat.duration_s[title])
        start = st.resume_at.pop(title, 0.0)
        plan = self.watch.plan(rng, title_taste, duration, start, max(st.sitting_end - t, 60.0))
        session = f.new_id("s-")
        sink.emit(f.playback(uid, session, tid, t, st.client, "click", row_id=row_id,
                             request_id=request_id, position=position), "click")  # fmt: skip
        sink.emit(f.playback(uid, session, tid, t, st.client, "session_start",
                             source_row_id=row_id, source_position=position,
                             start_position_s=start, title_duration_s=duration),
                  "session_start")  # fmt: skip
        sink.emit(f.playback(uid, session, tid, t, st.client, "play", position_s=start,
                             source_row_id=row_id, source_position=position), "play")  # fmt: skip
        v = Viewing(session, title, duration, plan, title_taste, int(start // CHUNK_S), row_id)
        v.last_hb = t
        if st.abr_arm == ABR_LEARNED:
            abr = self.svc.abr
            resp = None
            if abr.available():
                resp = await abr.start(
                    abr_pb2.StartSessionRequest(
                        session_id=session, user_id=uid, client=st.client,
                        ladder_kbps=LADDER_KBPS, max_rung=self._max_rung(u),
                        chunk_duration_s=CHUNK_S, objective=abr_pb2.QOE_OBJECTIVE_LINEAR,
                    )
                )  # fmt: skip
            # Even if the start failed, later chunks ask again (the service opens a session
            # on its first request); only the first rung falls back to the default.
            v.abr_on = True
            if resp is None:
                abr.fallback()
            else:
                v.first_rung = min(max(resp.first_rung, 0), len(LADDER_KBPS) - 1)
        st.viewing, st.phase = v, Phase.CHUNK
        self.viewing_now += 1
        metrics.ACTIVE_VIEWERS.set(self.viewing_now)
        metrics.SESSIONS.labels(st.rec_arm).inc()
        self.stats.titles[u] += 1
        return t + 0.05

    def _trace(self, u: int, st: ViewerState) -> Trace:
        if self.traces:  # a household keeps its own real trace
            return self.traces[u % len(self.traces)]
        return synth_trace(st.rng, int(self.pop.network[u]), float(self.pop.bandwidth_scale[u]))

    def _max_rung(self, u: int) -> int:
        # A phone screen gains nothing from the top rung.
        return 4 if int(self.pop.device[u]) == types.DEVICE_TYPE_MOBILE else -1

    # -- playing --------------------------------------------------------------------------------

    async def _rung(self, u: int, st: ViewerState, v: Viewing) -> int:
        max_rung = self._max_rung(u)
        if v.startup and not v.after_seek:
            rung = v.first_rung
        elif st.abr_arm == ABR_LEARNED:
            rung = -1
            abr = self.svc.abr
            if v.abr_on and abr.available():
                resp = await abr.select(
                    abr_pb2.SelectBitrateRequest(
                        session_id=v.session_id, chunk_index=v.chunk, buffer_s=v.buffer_s,
                        last_rung=v.last_rung,
                        next_chunk_sizes=[abr_pb2.ChunkSizes(bytes=s)
                                          for s in sizes_ahead(v.title, v.chunk)],
                        recent=[v.last_obs] if v.last_obs is not None else [],
                        after_seek=v.after_seek,
                        max_rung=max(max_rung, 0),  # 0 = the session's (none)
                    )
                )  # fmt: skip
                if resp is not None:
                    rung = resp.rung
                    self.abr_decisions["service"] += 1
            if rung < 0:
                abr.fallback()
                self.abr_decisions["fallback_bba"] += 1
                rung = bba_rung(v.buffer_s, max_rung=max_rung)
        else:
            self.abr_decisions["bba_arm"] += 1
            rung = bba_rung(v.buffer_s, max_rung=max_rung)
        top = len(LADDER_KBPS) - 1 if max_rung < 0 else max_rung
        return min(max(rung, 0), top)

    async def _chunk(self, u: int, st: ViewerState, t: float) -> float:
        v = st.viewing
        assert v is not None and st.trace is not None
        rng, f, uid = st.rng, self.svc.factory, self.pop.ids[u]
        rung = await self._rung(u, st, v)
        nbytes = chunk_bytes(rung, v.title, v.chunk)
        dl = st.trace.download_s(t - st.net_t0, nbytes)
        if dl > CHUNK_TIMEOUT_S and rung > 0:
            rung, nbytes = 0, chunk_bytes(0, v.title, v.chunk)
            dl = CHUNK_TIMEOUT_S + st.trace.download_s(t + CHUNK_TIMEOUT_S - st.net_t0, nbytes)
        dl = min(dl, 120.0)  # keeps event times well inside telemetry's 5-minute future window
        out = advance(v.buffer_s, dl, startup=v.startup)
        kbps = LADDER_KBPS[rung]
        t_done = t + dl
        f_pb = f.playback(uid, v.session_id, self.cat.ids[v.title], t_done, st.client,
                          "chunk_downloaded", chunk_index=v.chunk, bitrate_kbps=kbps, rung=rung,
                          bytes=nbytes, download_ms=dl * 1000.0, buffer_after_s=out.buffer_after_s,
                          rebuffer_ms=out.rebuffer_s * 1000.0, rtt_ms=RTT_S * 1000.0)  # fmt: skip
        self.svc.sink.emit(f_pb, "chunk_downloaded")
        if v.abr_on:  # what the service has not seen yet, for its next decision
            v.last_obs = abr_pb2.ChunkObservation(
                chunk_index=v.chunk, rung=rung, bytes=nbytes, download_ms=dl * 1000.0,
                rtt_ms=RTT_S * 1000.0,
            )  # fmt: skip
        v.chunk += 1
        v.buffer_s = out.buffer_after_s
        v.startup = v.after_seek = False
        v.last_rung = rung
        # Outcomes: content played, stalls, bitrate (per user, per viewing, per arm).
        v.watched_s += out.played_s
        v.rebuffer_s += out.rebuffer_s
        v.kbps_s += kbps * CHUNK_S
        v.fetched_s += CHUNK_S
        self.stats.chunk(u, out.played_s, out.rebuffer_s, kbps, CHUNK_S)
        self._watched["rec", st.rec_arm].inc(out.played_s)
        self._watched["abr", st.abr_arm].inc(out.played_s)
        if out.rebuffer_s:
            self._rebuffer[st.abr_arm].inc(out.rebuffer_s)
        position_done = v.position_s - out.sleep_s  # playhead when the chunk landed
        if t_done - v.last_hb >= HEARTBEAT_S:
            v.last_hb = t_done
            self.svc.sink.emit(
                f.playback(uid, v.session_id, self.cat.ids[v.title], t_done, st.client,
                           "heartbeat", position_s=min(position_done, v.duration_s),
                           buffer_s=out.buffer_after_s, bitrate_kbps=kbps,
                           throughput_kbps=nbytes * 8.0 / max(dl - RTT_S, 1e-3) / 1000.0),
                "heartbeat",
            )  # fmt: skip
        # Ending: the plan's stop point reached, or patience lost to stalls / blur.
        quit_now = self.watch.quits_after_stall(rng, out.rebuffer_s) or self.watch.quits_on_quality(
            rng, kbps, int(self.pop.device[u]) in BIG_SCREENS
        )
        if quit_now and position_done < v.plan.stop_at_s:
            v.plan = WatchPlan(max(position_done, 0.0), "stop")
            st.phase = Phase.END
            return t_done
        if v.chunk * CHUNK_S >= v.plan.stop_at_s or v.chunk * CHUNK_S >= v.duration_s:
            st.phase = Phase.END
            return t_done + max(min(v.plan.stop_at_s, v.duration_s) - position_done, 0.0)
        t_next = t_done + out.sleep_s
        r = rng.random()
        if r < P_PAUSE:
            self.svc.sink.emit(f.playback(uid, v.session_id, self.cat.ids[v.title], t_next,
                                          st.client, "pause", position_s=v.position_s), "pause")  # fmt: skip
            st.phase = Phase.RESUME
            return t_next + rng.lognormal(np.log(180.0), 1.0)
        if r < P_PAUSE + P_SEEK:
            frm = v.position_s
            to = frm + rng.uniform(30.0, 600.0) if rng.random() < 0.7 else frm - rng.uniform(10, 60)
            to = min(max(to, 0.0), v.plan.stop_at_s - 1.0, v.duration_s - 1.0)
            to = max(to, 0.0)
            self.svc.sink.emit(f.playback(uid, v.session_id, self.cat.ids[v.title], t_next,
                                          st.client, "seek", from_s=frm, to_s=to), "seek")  # fmt: skip
            v.chunk, v.buffer_s = int(to // CHUNK_S), 0.0
            v.startup = v.after_seek = True
        return t_next

    def _resume(self, u: int, st: ViewerState, t: float) -> float:
        v = st.viewing
        assert v is not None
        self.svc.sink.emit(self.svc.factory.playback(
            self.pop.ids[u], v.session_id, self.cat.ids[v.title], t, st.client, "resume",
            position_s=v.position_s), "resume")  # fmt: skip
        st.phase = Phase.CHUNK
        return t

    async def _end(self, u: int, st: ViewerState, t: float) -> float | None:
        v = st.viewing
        assert v is not None
        rng, f, uid, tid = st.rng, self.svc.factory, self.pop.ids[u], self.cat.ids[v.title]
        kind = v.plan.end_kind
        pos = v.duration_s if kind == "complete" else min(v.plan.stop_at_s, v.duration_s)
        self.svc.sink.emit(f.playback(uid, v.session_id, tid, t, st.client, kind, position_s=pos,
                                      duration_s=v.duration_s), kind)  # fmt: skip
        if kind != "skip" and rng.random() < 0.25:
            self.svc.sink.emit(f.playback(uid, v.session_id, tid, t + 2.0, st.client, "rating",
                                          value=rating(rng, v.taste)), "rating")  # fmt: skip
        if v.abr_on and self.svc.abr.available():
            await self.svc.abr.end(abr_pb2.EndSessionRequest(session_id=v.session_id))
        played = v.watched_s + v.rebuffer_s
        self.recent.viewing(
            u, v.taste, v.rebuffer_s / played if played > 0 else 0.0,
            v.kbps_s / v.fetched_s if v.fetched_s else 0.0,
        )  # fmt: skip
        if kind == "stop" and pos < 0.95 * v.duration_s:
            st.resume_at[v.title] = pos
            while len(st.resume_at) > 8:
                del st.resume_at[next(iter(st.resume_at))]
        else:
            st.seen.add(v.title)
        st.viewing = None
        self.viewing_now -= 1
        metrics.ACTIVE_VIEWERS.set(self.viewing_now)
        t_after = t + 3.0
        keep_going = rng.random() < continue_probability(v.taste)
        if not st.cancel_pending and t_after < st.sitting_end and keep_going:
            st.phase = Phase.BROWSE
            return t_after + rng.uniform(5.0, 60.0)
        return self._next_sitting(u, t_after)
