"""Opening the app: home-screen rows (or the default row), impressions, the pick, the start."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelstream.abr.v1 import abr_pb2
from reelstream.recommendation.v1 import recommendation_pb2 as rec_pb
from services.simulator import metrics
from services.simulator.arms import ABR_LEARNED, rec_variant
from services.simulator.player import CHUNK_S, LADDER_KBPS
from services.simulator.population import taste
from services.simulator.world import Phase, ViewerState, Viewing, World


async def home_rows(
    w: World, u: int, st: ViewerState, t: float, rpc: bool = True
) -> list[tuple[str, str, np.ndarray]]:
    """(row id, request id, title rows) from the service, or the app's default row."""
    rec = w.svc.rec
    if rpc and rec.available():
        request = rec_pb.HomeRowsRequest(
            user_id=w.pop.ids[u],
            context=rec_pb.Context(
                device_type=st.client.device_type,
                region=st.client.region,
                time_ms=int(t * 1000),
            ),
            max_rows=6,
            titles_per_row=10,
            filter=rec_pb.Filter(
                max_maturity=int(w.pop.max_maturity[u]),  # type: ignore[arg-type]
                available_in_region=True,
            ),
            variant=rec_variant(w.assignment.rec(st.rec_arm, t)),
        )
        resp = await rec.home_rows(request)
        if resp is not None:
            index = w.cat_index
            rows = []
            for row in resp.rows:
                ids = [index[s.title_id] for s in row.titles if s.title_id in index]
                if ids:
                    rows.append((row.row_id or f"row-{row.kind}", resp.request_id, np.array(ids)))
            if rows:
                return rows
    rec.fallback()
    titles = w.cat.default_list(int(w.pop.region[u]), int(w.pop.max_maturity[u]), t, 20)
    return [("default-popular", w.svc.factory.new_id("local-"), titles)]


async def browse(
    w: World, u: int, st: ViewerState, t: float, *, new_sitting: bool, rpc: bool = True
) -> float | None:
    """Open the home screen: impressions for every row shown, then a pick (or leaving)."""
    rng, f, sink, uid = st.rng, w.svc.factory, w.svc.sink, w.pop.ids[u]
    if new_sitting:
        st.sitting_end = t + rng.lognormal(np.log(w.mean_sitting_s) - 0.18, 0.6)
        st.trace = w.trace_for(u, st)
        st.net_t0 = t - rng.uniform(0.0, st.trace.length_s)
    rows = await home_rows(w, u, st, t, rpc)
    items, row_of, pos_of = [], [], []
    tt = t
    for r, (row_id, request_id, titles) in enumerate(rows):
        ids = [w.cat.ids[i] for i in titles]
        positions = list(range(len(ids)))
        sink.emit(
            f.playback(
                uid,
                "",
                "",
                tt,
                st.client,
                "impression",
                row_id=row_id,
                request_id=request_id,
                title_ids=ids,
                positions=positions,
            ),
            "impression",
        )
        tt += 0.3
        items.extend(titles.tolist())
        row_of.extend([r] * len(ids))
        pos_of.extend(positions)
    item_arr = np.asarray(items, dtype=np.int64)
    tastes = taste(w.pop, w.cat, u, item_arr) if len(items) else np.zeros(0)
    region, mat = int(w.pop.region[u]), int(w.pop.max_maturity[u])
    ok = (
        w.cat.region_ok[item_arr, region]
        & (w.cat.maturity[item_arr] <= mat)
        & (w.cat.release_s[item_arr] <= t)
    )
    choosable = np.where(ok, tastes, -np.inf)
    if st.seen:
        seen = np.fromiter((i in st.seen for i in items), bool, len(items))
        choosable = choosable - w.choice.rewatch_penalty * seen
    pick = w.choice.choose(
        rng, choosable, np.asarray(row_of), np.asarray(pos_of), float(w.pop.pickiness[u])
    )
    w.stats.visit(u, float(tastes.mean()) if len(items) else None,
                  float(tastes[pick]) if pick is not None else None)  # fmt: skip
    if new_sitting:
        w.stats.sittings[u] += 1
    w.recent.visit(u, pick is not None)
    metrics.VISITS.labels("true" if pick is not None else "false").inc()
    if pick is None:
        return w.next_sitting_time(u, tt + rng.uniform(5.0, 30.0))
    shown = Shown(rows, items, row_of, pos_of, tastes)
    return await start(w, u, st, tt + rng.uniform(2.0, 15.0), shown, pick, rpc)


@dataclass(frozen=True, slots=True)
class Shown:
    """What one home screen showed: the rows, and per slot its title, row, position, taste."""

    rows: list[tuple[str, str, np.ndarray]]  # (row id, request id, title rows)
    items: list[int]
    row_of: list[int]
    pos_of: list[int]
    tastes: np.ndarray


async def start(
    w: World, u: int, st: ViewerState, t: float, shown: Shown, pick: int, rpc: bool = True
) -> float:
    """Click, session start and play of the picked title; open the ABR session."""
    rng, f, sink, uid = st.rng, w.svc.factory, w.svc.sink, w.pop.ids[u]
    title = shown.items[pick]
    row_id, request_id, _ = shown.rows[shown.row_of[pick]]
    position = shown.pos_of[pick]
    title_taste = float(shown.tastes[pick])
    tid = w.cat.ids[title]
    duration = float(w.cat.duration_s[title])
    start = st.resume_at.pop(title, 0.0)
    plan = w.watch.plan(rng, title_taste, duration, start, max(st.sitting_end - t, 60.0))
    session = f.new_id("s-")
    sink.emit(
        f.playback(
            uid,
            session,
            tid,
            t,
            st.client,
            "click",
            row_id=row_id,
            request_id=request_id,
            position=position,
        ),
        "click",
    )
    sink.emit(
        f.playback(
            uid,
            session,
            tid,
            t,
            st.client,
            "session_start",
            source_row_id=row_id,
            source_position=position,
            start_position_s=start,
            title_duration_s=duration,
        ),
        "session_start",
    )
    sink.emit(
        f.playback(
            uid,
            session,
            tid,
            t,
            st.client,
            "play",
            position_s=start,
            source_row_id=row_id,
            source_position=position,
        ),
        "play",
    )
    v = Viewing(session, title, duration, plan, title_taste, int(start // CHUNK_S), row_id)
    v.last_hb = t
    v.abr_arm = w.assignment.abr(session)
    w.stats.session(u, v.abr_arm)
    if v.abr_arm == ABR_LEARNED:
        abr = w.svc.abr
        resp = None
        if rpc and abr.available():
            resp = await abr.start(
                abr_pb2.StartSessionRequest(
                    session_id=session,
                    user_id=uid,
                    client=st.client,
                    ladder_kbps=LADDER_KBPS,
                    max_rung=w.max_rung(u),
                    chunk_duration_s=CHUNK_S,
                    objective=abr_pb2.QOE_OBJECTIVE_LINEAR,
                )
            )
        # Even if the start failed, later chunks ask again (the service opens a session
        # on its first request); only the first rung falls back to the default.
        v.abr_on = True
        if resp is None:
            abr.fallback()
        else:
            v.first_rung = min(max(resp.first_rung, 0), len(LADDER_KBPS) - 1)
    st.viewing, st.phase = v, Phase.CHUNK
    w.viewing_now += 1
    metrics.ACTIVE_VIEWERS.set(w.viewing_now)
    metrics.SESSIONS.labels(st.rec_arm).inc()
    w.stats.titles[u] += 1
    return t + 0.05
