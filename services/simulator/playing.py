"""Playing a title: one chunk at a time (ABR service or BBA), pauses, seeks, the end."""

from __future__ import annotations

import numpy as np

from reelstream.abr.v1 import abr_pb2
from reelstream.common.v1 import types_pb2 as types
from services.simulator import metrics
from services.simulator.arms import ABR_LEARNED
from services.simulator.choice import WatchPlan, continue_probability, rating
from services.simulator.network import RTT_S
from services.simulator.player import (
    CHUNK_S,
    LADDER_KBPS,
    advance,
    bba_rung,
    chunk_bytes,
    sizes_ahead,
)
from services.simulator.world import Phase, ViewerState, Viewing, World

HEARTBEAT_S = 30.0
TAIL_S = 0.5  # the progress measurement sent with each chunk: bytes over the transfer's last 0.5 s
CHUNK_TIMEOUT_S = 30.0  # a player abandons a chunk request this slow and refetches at rung 0
P_PAUSE = 0.002  # per chunk
P_SEEK = 0.0008
BIG_SCREENS = frozenset(
    {types.DEVICE_TYPE_TV, types.DEVICE_TYPE_CONSOLE, types.DEVICE_TYPE_STREAMING_STICK}
)


async def choose_rung(w: World, u: int, st: ViewerState, v: Viewing, rpc: bool = True) -> int:
    """The rung of the next chunk: the service's answer (learned arm) or BBA."""
    max_rung = w.max_rung(u)
    if v.startup and not v.after_seek:
        rung = v.first_rung
    elif v.abr_arm == ABR_LEARNED:
        rung = -1
        abr = w.svc.abr
        if rpc and v.abr_on and abr.available():
            resp = await abr.select(
                abr_pb2.SelectBitrateRequest(
                    session_id=v.session_id,
                    chunk_index=v.chunk,
                    buffer_s=v.buffer_s,
                    last_rung=v.last_rung,
                    next_chunk_sizes=[
                        abr_pb2.ChunkSizes(bytes=s) for s in sizes_ahead(v.title, v.chunk)
                    ],
                    recent=[v.last_obs] if v.last_obs is not None else [],
                    after_seek=v.after_seek,
                    max_rung=max(max_rung, 0),  # 0 = the session's (none)
                )
            )
            if resp is not None:
                rung = resp.rung
                w.abr_decisions["service"] += 1
        if rung < 0:
            abr.fallback()
            w.abr_decisions["fallback_bba"] += 1
            rung = bba_rung(v.buffer_s, max_rung=max_rung)
    else:
        w.abr_decisions["bba_arm"] += 1
        rung = bba_rung(v.buffer_s, max_rung=max_rung)
    top = len(LADDER_KBPS) - 1 if max_rung < 0 else max_rung
    return min(max(rung, 0), top)


async def chunk(w: World, u: int, st: ViewerState, t: float, rpc: bool = True) -> float:
    """Fetch one chunk over the viewer's link; then maybe heartbeat, pause, seek or end."""
    v = st.viewing
    assert v is not None and st.trace is not None
    rng, f, uid = st.rng, w.svc.factory, w.pop.ids[u]
    rung = await choose_rung(w, u, st, v, rpc)
    nbytes = chunk_bytes(rung, v.title, v.chunk)
    start = t - st.net_t0  # trace time the (last) request went out
    dl = st.trace.download_s(start, nbytes)
    if dl > CHUNK_TIMEOUT_S and rung > 0:
        rung, nbytes = 0, chunk_bytes(0, v.title, v.chunk)
        start += CHUNK_TIMEOUT_S
        dl = CHUNK_TIMEOUT_S + st.trace.download_s(start, nbytes)
    tail_bytes, tail_ms = 0, 0.0  # not measured when the download is cut short below
    if dl <= 120.0:
        end = t - st.net_t0 + dl - RTT_S  # the transfer's last byte (RTT paid up front)
        window = min(TAIL_S, end - start)
        tail_bytes = min(round(st.trace.delivered_bytes(end - window, end)), nbytes)
        tail_ms = window * 1000.0 if tail_bytes > 0 else 0.0
    dl = min(dl, 120.0)  # keeps event times well inside telemetry's 5-minute future window
    out = advance(v.buffer_s, dl, startup=v.startup)
    kbps = LADDER_KBPS[rung]
    t_done = t + dl
    f_pb = f.playback(
        uid,
        v.session_id,
        w.cat.ids[v.title],
        t_done,
        st.client,
        "chunk_downloaded",
        chunk_index=v.chunk,
        bitrate_kbps=kbps,
        rung=rung,
        bytes=nbytes,
        download_ms=dl * 1000.0,
        buffer_after_s=out.buffer_after_s,
        rebuffer_ms=out.rebuffer_s * 1000.0,
        rtt_ms=RTT_S * 1000.0,
        tail_bytes=tail_bytes,
        tail_ms=tail_ms,
    )
    w.svc.sink.emit(f_pb, "chunk_downloaded")
    if v.abr_on:  # what the service has not seen yet, for its next decision
        v.last_obs = abr_pb2.ChunkObservation(
            chunk_index=v.chunk,
            rung=rung,
            bytes=nbytes,
            download_ms=dl * 1000.0,
            rtt_ms=RTT_S * 1000.0,
            tail_bytes=tail_bytes,
            tail_ms=tail_ms,
        )
    v.chunk += 1
    v.buffer_s = out.buffer_after_s
    v.startup = v.after_seek = False
    v.last_rung = rung
    # Outcomes: content played, stalls, bitrate (per user, per viewing, per arm).
    v.watched_s += out.played_s
    v.rebuffer_s += out.rebuffer_s
    v.kbps_s += kbps * CHUNK_S
    v.fetched_s += CHUNK_S
    w.stats.chunk(u, out.played_s, out.rebuffer_s, kbps, CHUNK_S, v.abr_arm)
    w.watched_metric["rec", st.rec_arm].inc(out.played_s)
    w.watched_metric["abr", v.abr_arm].inc(out.played_s)
    if out.rebuffer_s:
        w.rebuffer_metric[v.abr_arm].inc(out.rebuffer_s)
    position_done = v.position_s - out.sleep_s  # playhead when the chunk landed
    if t_done - v.last_hb >= HEARTBEAT_S:
        v.last_hb = t_done
        w.svc.sink.emit(
            f.playback(
                uid,
                v.session_id,
                w.cat.ids[v.title],
                t_done,
                st.client,
                "heartbeat",
                position_s=min(position_done, v.duration_s),
                buffer_s=out.buffer_after_s,
                bitrate_kbps=kbps,
                throughput_kbps=nbytes * 8.0 / max(dl - RTT_S, 1e-3) / 1000.0,
            ),
            "heartbeat",
        )
    # Ending: the plan's stop point reached, or patience lost to stalls / blur.
    quit_now = w.watch.quits_after_stall(rng, out.rebuffer_s) or w.watch.quits_on_quality(
        rng, kbps, int(w.pop.device[u]) in BIG_SCREENS
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
        w.svc.sink.emit(
            f.playback(
                uid,
                v.session_id,
                w.cat.ids[v.title],
                t_next,
                st.client,
                "pause",
                position_s=v.position_s,
            ),
            "pause",
        )
        st.phase = Phase.RESUME
        return t_next + rng.lognormal(np.log(180.0), 1.0)
    if r < P_PAUSE + P_SEEK:
        frm = v.position_s
        to = frm + rng.uniform(30.0, 600.0) if rng.random() < 0.7 else frm - rng.uniform(10, 60)
        to = min(max(to, 0.0), v.plan.stop_at_s - 1.0, v.duration_s - 1.0)
        to = max(to, 0.0)
        w.svc.sink.emit(
            f.playback(
                uid,
                v.session_id,
                w.cat.ids[v.title],
                t_next,
                st.client,
                "seek",
                from_s=frm,
                to_s=to,
            ),
            "seek",
        )
        v.chunk, v.buffer_s = int(to // CHUNK_S), 0.0
        v.startup = v.after_seek = True
    return t_next


def resume(w: World, u: int, st: ViewerState, t: float) -> float:
    """Back from a pause: playback goes on."""
    v = st.viewing
    assert v is not None
    w.svc.sink.emit(
        w.svc.factory.playback(
            w.pop.ids[u],
            v.session_id,
            w.cat.ids[v.title],
            t,
            st.client,
            "resume",
            position_s=v.position_s,
        ),
        "resume",
    )
    st.phase = Phase.CHUNK
    return t


async def end(w: World, u: int, st: ViewerState, t: float, rpc: bool = True) -> float | None:
    """Complete, stop or skip; maybe rate; then another title, or home until next time."""
    v = st.viewing
    assert v is not None
    rng, f, uid, tid = st.rng, w.svc.factory, w.pop.ids[u], w.cat.ids[v.title]
    kind = v.plan.end_kind
    pos = v.duration_s if kind == "complete" else min(v.plan.stop_at_s, v.duration_s)
    w.svc.sink.emit(
        f.playback(
            uid, v.session_id, tid, t, st.client, kind, position_s=pos, duration_s=v.duration_s
        ),
        kind,
    )
    if kind != "skip" and rng.random() < 0.25:
        w.svc.sink.emit(
            f.playback(
                uid, v.session_id, tid, t + 2.0, st.client, "rating", value=rating(rng, v.taste)
            ),
            "rating",
        )
    if rpc and v.abr_on and w.svc.abr.available():
        await w.svc.abr.end(abr_pb2.EndSessionRequest(session_id=v.session_id))
    elif v.abr_on:
        w.svc.abr.close_session(v.session_id)
    played = v.watched_s + v.rebuffer_s
    w.recent.viewing(
        u,
        v.taste,
        v.rebuffer_s / played if played > 0 else 0.0,
        v.kbps_s / v.fetched_s if v.fetched_s else 0.0,
    )
    if kind == "stop" and pos < 0.95 * v.duration_s:
        st.resume_at[v.title] = pos
        while len(st.resume_at) > 8:
            del st.resume_at[next(iter(st.resume_at))]
    else:
        st.seen.add(v.title)
    st.viewing = None
    w.viewing_now -= 1
    metrics.ACTIVE_VIEWERS.set(w.viewing_now)
    t_after = t + 3.0
    keep_going = rng.random() < continue_probability(v.taste)
    if not st.cancel_pending and t_after < st.sitting_end and keep_going:
        st.phase = Phase.BROWSE
        return t_after + rng.uniform(5.0, 60.0)
    return w.next_sitting_time(u, t_after)
