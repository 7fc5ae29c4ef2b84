"""ABR over real Kafka and gRPC: chunk events teach the predictor; restarts resume."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from prometheus_client import REGISTRY

from reelstream.abr.v1 import abr_pb2 as api
from reelstream.abr.v1 import abr_pb2_grpc as api_grpc
from reelstream.common.v1 import types_pb2
from reelstream.platform.topics import TopicNames
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.telemetry.v1 import telemetry_pb2 as tapi
from reelstream.telemetry.v1 import telemetry_pb2_grpc as tapi_grpc
from services.abr.__main__ import serve as serve_abr
from services.abr.settings import AbrSettings
from services.telemetry.__main__ import serve as serve_telemetry
from services.telemetry.settings import TelemetrySettings
from tests.factories import now_ms

pytestmark = pytest.mark.integration
LADDER = (300, 750, 1200, 1850, 2850, 4300)


def chunk_events(
    session: str, mbps: float, n: int, start: int = 0, tails: list[float] | None = None
) -> list[pb.PlaybackEvent]:
    """Chunks at rung 2 (1200 kbps, 4 s) downloaded at ``mbps``; with ``tails``, chunk i's
    player measured ``tails[i]`` Mbit/s over the transfer's last 0.5 s."""
    return rated_events(session, [mbps] * n, start, tails)


def rated_events(
    session: str, mbps: list[float], start: int = 0, tails: list[float] | None = None
) -> list[pb.PlaybackEvent]:
    """Chunks at rung 2 downloaded at ``mbps[i]`` (Mbit/s), indices from ``start``."""
    size = 1200 * 1000 // 8 * 4
    t = now_ms() - 60_000
    events = []
    for i, rate in enumerate(mbps):
        transfer_ms = size * 8 / (rate * 1000)
        chunk = pb.ChunkDownloaded(
            chunk_index=start + i,
            bitrate_kbps=1200,
            rung=2,
            bytes=size,
            download_ms=transfer_ms + 80,
            buffer_after_s=20,
            rtt_ms=80,
        )
        if tails is not None:
            chunk.tail_ms = min(500.0, transfer_ms)
            chunk.tail_bytes = min(round(tails[i] * 1e6 / 8 * chunk.tail_ms / 1000), size)
        events.append(
            pb.PlaybackEvent(
                event_id=f"{session}-{start + i}",
                user_id="u-" + session,
                session_id=session,
                title_id="t1",
                event_time_ms=t + (start + i) * 4000,
                client=pb.ClientInfo(network_type=types_pb2.NETWORK_TYPE_CELLULAR_4G, region="NO"),
                chunk_downloaded=chunk,
            )
        )
    return events


async def predicted_kbps(stub: api_grpc.AbrServiceStub, session: str) -> api.SelectBitrateResponse:
    return await stub.SelectBitrate(
        api.SelectBitrateRequest(session_id=session, chunk_index=99, buffer_s=20, last_rung=2)
    )


async def until(pred: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def settings_of(kafka_bootstrap: str, topics: TopicNames) -> dict[str, Any]:
    """Settings both services share in these tests: the broker, fresh topics, any free ports."""
    return {
        "kafka_bootstrap": kafka_bootstrap,
        "topic_prefix": topics.prefix,
        "grpc_port": 0,
        "metrics_port": 0,
    }


async def test_chunk_events_change_the_predictor_and_restart_resumes(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    common = settings_of(kafka_bootstrap, topics)
    telemetry, _ = await serve_telemetry(TelemetrySettings(**common))
    settings = AbrSettings(**common, snapshot_dir=tmp_path, snapshot_interval_s=3600)
    abr, host = await serve_abr(settings)
    tch = grpc.aio.insecure_channel(f"127.0.0.1:{telemetry.port}")
    ach = grpc.aio.insecure_channel(f"127.0.0.1:{abr.port}")
    try:
        tstub, stub = tapi_grpc.TelemetryServiceStub(tch), api_grpc.AbrServiceStub(ach)
        await stub.StartSession(api.StartSessionRequest(session_id="fresh", ladder_kbps=LADDER))
        before = (await predicted_kbps(stub, "fresh")).predicted_throughput_kbps

        # Many sessions on a fast network: the population model learns it from Kafka alone.
        events = [e for s in range(20) for e in chunk_events(f"fast-{s}", 40.0, 10)]
        ack = await tstub.IngestBatch(tapi.EventBatch(events=events))
        assert ack.accepted == len(events)

        async def learned() -> bool:
            return host.learner.chunks_seen >= len(events)

        await until(learned)
        await stub.StartSession(api.StartSessionRequest(session_id="fresh2", ladder_kbps=LADDER))
        after = (await predicted_kbps(stub, "fresh2")).predicted_throughput_kbps
        assert after > 2 * before, (before, after)

        # A session whose link collapses is moved down at once.
        await tstub.IngestBatch(tapi.EventBatch(events=chunk_events("falling", 40.0, 6)))
        await tstub.IngestBatch(tapi.EventBatch(events=chunk_events("falling", 0.4, 3, start=6)))

        async def collapsed() -> bool:
            return (
                host.learner.books["falling"].last_chunk == 8
                if "falling" in host.learner.books
                else False
            )

        await until(collapsed)
        d = await stub.SelectBitrate(
            api.SelectBitrateRequest(session_id="falling", chunk_index=9, buffer_s=6, last_rung=5)
        )
        assert d.rung <= 1, d
        assert d.reason

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SelectBitrate(api.SelectBitrateRequest(session_id="x", buffer_s=-1))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "buffer_s" in (
            err.value.details() or ""
        )

        await stub.StartSession(api.StartSessionRequest(session_id="probe", ladder_kbps=LADDER))
        before_stop = (await predicted_kbps(stub, "probe")).predicted_throughput_kbps
        seen = host.learner.chunks_seen
        await ach.close()
        await abr.stop()  # final snapshot with offsets
        abr, host = await serve_abr(settings)
        ach = grpc.aio.insecure_channel(f"127.0.0.1:{abr.port}")
        stub = api_grpc.AbrServiceStub(ach)
        await host.loop.ready.wait()
        await asyncio.sleep(1.0)  # a replay from the wrong offset would add chunks here
        assert host.learner.chunks_seen == seen
        await stub.StartSession(api.StartSessionRequest(session_id="probe2", ladder_kbps=LADDER))
        restored = (await predicted_kbps(stub, "probe2")).predicted_throughput_kbps
        assert restored == pytest.approx(before_stop, rel=1e-9)
    finally:
        await tch.close()
        await ach.close()
        await abr.stop()
        await telemetry.stop()


async def test_the_progress_tail_reaches_the_next_chunk_forecast_over_kafka(
    kafka_bootstrap: str, topics: TopicNames
) -> None:
    common = settings_of(kafka_bootstrap, topics)
    telemetry, _ = await serve_telemetry(TelemetrySettings(**common))
    abr, host = await serve_abr(AbrSettings(**common))
    tch = grpc.aio.insecure_channel(f"127.0.0.1:{telemetry.port}")
    ach = grpc.aio.insecure_channel(f"127.0.0.1:{abr.port}")
    try:
        tstub, stub = tapi_grpc.TelemetryServiceStub(tch), api_grpc.AbrServiceStub(ach)
        # A population whose links change between chunks, each change already under way at the
        # end of the transfer before it: the tail tells the next chunk's rate, the chunk does not.
        rng = np.random.default_rng(7)
        events = []
        for s in range(30):
            rates = (5.0 * np.exp(rng.normal(0.0, 0.8, 9))).tolist()
            events += rated_events(f"pop-{s}", rates[:8], tails=rates[1:])
        ack = await tstub.IngestBatch(tapi.EventBatch(events=events))
        assert ack.accepted == len(events), ack

        # Two sessions alike in every chunk total; in one the last transfer ended at 0.5 Mbit/s.
        steady = chunk_events("steady", 5.0, 6, tails=[5.0] * 6)
        tailing = chunk_events("tailing", 5.0, 6, tails=[5.0] * 5 + [0.5])
        ack = await tstub.IngestBatch(tapi.EventBatch(events=steady + tailing))
        assert ack.accepted == 12, ack

        async def learned() -> bool:
            return host.learner.chunks_seen >= len(events) + 12

        await until(learned)
        answers = {}
        for session in ("steady", "tailing"):
            answers[session] = await stub.SelectBitrate(
                api.SelectBitrateRequest(session_id=session, chunk_index=6, buffer_s=8, last_rung=3)
            )
        steady_kbps = answers["steady"].predicted_throughput_kbps
        tailing_kbps = answers["tailing"].predicted_throughput_kbps
        assert tailing_kbps < 0.5 * steady_kbps, answers
        assert answers["tailing"].rung < answers["steady"].rung, answers

        # A tail that cannot belong to its transfer is refused by name; nothing is learned.
        seen = host.learner.chunks_seen
        bad = api.ChunkObservation(
            chunk_index=7, rung=2, bytes=600_000, download_ms=1000, tail_bytes=1, tail_ms=1500
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SelectBitrate(
                api.SelectBitrateRequest(
                    session_id="steady", chunk_index=8, buffer_s=8, last_rung=3, recent=[bad]
                )
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "recent[0]: tail_ms must not exceed download_ms" in (err.value.details() or "")
        assert host.learner.books["steady"].last_chunk == 5
        assert host.learner.chunks_seen == seen
    finally:
        await tch.close()
        await ach.close()
        await abr.stop()
        await telemetry.stop()


def _stream_messages_sent() -> float:
    value = REGISTRY.get_sample_value(
        "grpc_server_msg_sent_total",
        {"grpc_service": "reelstream.abr.v1.AbrService", "grpc_method": "SelectBitrateStream"},
    )
    return value or 0.0


async def test_decision_stream_answers_in_order_and_names_a_bad_message(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    settings = AbrSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topics.prefix,
        grpc_port=0,
        metrics_port=0,
        snapshot_dir=tmp_path,
        snapshot_interval_s=3600,
    )
    abr, _ = await serve_abr(settings)
    ch = grpc.aio.insecure_channel(f"127.0.0.1:{abr.port}")
    try:
        stub = api_grpc.AbrServiceStub(ch)
        await stub.StartSession(api.StartSessionRequest(session_id="st", ladder_kbps=LADDER))
        sizes = [api.ChunkSizes(bytes=[k * 500 for k in LADDER]) for _ in range(5)]
        size = 1200 * 500

        def request(i: int, mbps: float, buffer_s: float) -> api.SelectBitrateRequest:
            return api.SelectBitrateRequest(
                session_id="st",
                chunk_index=i,
                buffer_s=buffer_s,
                last_rung=2,
                next_chunk_sizes=sizes,
                recent=[
                    api.ChunkObservation(
                        chunk_index=i - 1,
                        rung=2,
                        bytes=size,
                        download_ms=size * 8 / (mbps * 1000) + 80,
                        rtt_ms=80,
                    )
                ],
            )

        # A fast link for eight chunks, then a collapse: the stream's answers follow, in order,
        # and agree with what the unary call decides in the same state.
        sent_before = _stream_messages_sent()
        call = stub.SelectBitrateStream()
        answers = []
        for i in range(1, 9):
            await call.write(request(i, 20.0, 30.0))
            answers.append(await call.read())
        for i in range(9, 12):
            await call.write(request(i, 0.3, 4.0))
            answers.append(await call.read())
        await call.done_writing()
        assert await call.read() is grpc.aio.EOF
        assert await call.code() == grpc.StatusCode.OK
        assert answers[7].rung >= 4, answers[7]
        assert answers[-1].rung <= 1 and answers[-1].reason, answers[-1]
        # The RED interceptor counts every message the stream sent (the handler writes on its
        # context, so the interceptor counts through the context it hands over).
        assert _stream_messages_sent() - sent_before == len(answers) == 11
        unary = await stub.SelectBitrate(
            api.SelectBitrateRequest(session_id="st", chunk_index=12, buffer_s=4.0, last_rung=2)
        )
        assert unary.rung <= 1

        # A bad message ends the stream with INVALID_ARGUMENT naming its index and field;
        # the good one before it was answered.
        bad = stub.SelectBitrateStream()
        await bad.write(request(12, 0.3, 4.0))
        first = await bad.read()
        assert first.reason
        await bad.write(api.SelectBitrateRequest(session_id="st", buffer_s=-3))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await bad.read()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "message 1" in (err.value.details() or "")
        assert "buffer_s" in (err.value.details() or "")
    finally:
        await ch.close()
        await abr.stop()
