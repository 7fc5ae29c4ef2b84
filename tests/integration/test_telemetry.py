"""Telemetry end to end over a real socket into the real broker."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiokafka.partitioner import murmur2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from reelstream.common.v1 import types_pb2
from reelstream.platform.server import ServiceRuntime
from reelstream.platform.topics import USER_PARTITIONS, TopicNames, ensure_topics
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.telemetry.v1 import telemetry_pb2 as api
from reelstream.telemetry.v1 import telemetry_pb2_grpc as api_grpc
from services.telemetry.__main__ import serve
from services.telemetry.settings import TelemetrySettings
from tests.conftest import LocalBroker
from tests.factories import chunk, complete, now_ms
from tests.kafka_util import event_of, read_all

pytestmark = pytest.mark.integration


async def start_telemetry(bootstrap: str, topics: TopicNames, **kw: Any) -> ServiceRuntime:
    settings = TelemetrySettings(
        kafka_bootstrap=bootstrap, topic_prefix=topics.prefix, grpc_port=0, metrics_port=0, **kw
    )
    runtime, _ = await serve(settings)
    return runtime


@pytest.fixture
async def telemetry(
    kafka_bootstrap: str, topics: TopicNames
) -> AsyncIterator[api_grpc.TelemetryServiceStub]:
    runtime = await start_telemetry(kafka_bootstrap, topics)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
        yield api_grpc.TelemetryServiceStub(channel)
    await runtime.stop()


async def test_event_comes_out_of_kafka_byte_for_byte(
    telemetry: api_grpc.TelemetryServiceStub, kafka_bootstrap: str, topics: TopicNames
) -> None:
    users = [f"user-{i}" for i in range(20)]
    events = [chunk(user=u) for u in users] + [complete(user=u) for u in users]
    originals = {e.event_id: e.SerializeToString() for e in events}
    before = now_ms()
    ack = await telemetry.IngestBatch(api.EventBatch(batch_id="b1", events=events))
    after = now_ms()
    assert ack.batch_id == "b1"
    assert ack.accepted == len(events)
    assert list(ack.rejections) == []

    records = read_all(kafka_bootstrap, topics.playback, len(events))
    assert len(records) == len(events)
    for msg in records:
        ev = event_of(msg)
        assert before <= ev.ingest_time_ms <= after
        stamped = ev.ingest_time_ms
        ev.ClearField("ingest_time_ms")
        # Everything but the ingest stamp is exactly what the player sent.
        assert ev.SerializeToString() == originals[ev.event_id]
        assert msg.key() == ev.user_id.encode()
        assert msg.partition() == (murmur2(msg.key()) & 0x7FFFFFFF) % USER_PARTITIONS
        assert stamped > 0


async def test_bad_events_are_rejected_and_dead_lettered(
    telemetry: api_grpc.TelemetryServiceStub, kafka_bootstrap: str, topics: TopicNames
) -> None:
    good1, good2 = chunk(user="a"), complete(user="b")
    bad_rating = pb.PlaybackEvent(
        event_id="bad-r",
        user_id="c",
        title_id="t",
        event_time_ms=now_ms(),
        rating=pb.Rating(value=11),
    )
    no_user = chunk(user="")
    future = chunk(user="d", event_time_ms=now_ms() + 86_400_000)
    batch = [good1, bad_rating, good2, no_user, future]
    ack = await telemetry.IngestBatch(api.EventBatch(batch_id="mixed", events=batch))

    assert ack.accepted == 2
    got = [(r.index, r.field, r.code) for r in ack.rejections]
    assert got == [
        (1, "rating.value", "OUT_OF_RANGE"),
        (3, "user_id", "REQUIRED"),
        (4, "event_time_ms", "TOO_FAR_IN_FUTURE"),
    ]
    assert all(r.reason for r in ack.rejections)
    assert ack.rejections[0].event_id == "bad-r"

    good = read_all(kafka_bootstrap, topics.playback, 2)
    assert sorted(event_of(m).event_id for m in good) == sorted([good1.event_id, good2.event_id])
    dead = read_all(kafka_bootstrap, topics.dead_letters, 3)
    letters = sorted(
        (types_pb2.DeadLetter.FromString(m.value() or b"") for m in dead), key=lambda d: d.field
    )
    assert [(d.field, d.code) for d in letters] == [
        ("event_time_ms", "TOO_FAR_IN_FUTURE"),
        ("rating.value", "OUT_OF_RANGE"),
        ("user_id", "REQUIRED"),
    ]
    rating_letter = letters[1]
    assert pb.PlaybackEvent.FromString(rating_letter.payload).event_id == "bad-r"
    assert rating_letter.service == "telemetry" and "rating" in rating_letter.reason


async def test_oversized_batch_is_invalid_argument(
    kafka_bootstrap: str, topics: TopicNames
) -> None:
    runtime = await start_telemetry(kafka_bootstrap, topics, max_batch_events=10)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as ch:
            stub = api_grpc.TelemetryServiceStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.IngestBatch(api.EventBatch(events=[chunk() for _ in range(11)]))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "at most 10" in (err.value.details() or "")
    finally:
        await runtime.stop()


async def test_stream_acks_every_batch_in_order(
    telemetry: api_grpc.TelemetryServiceStub, kafka_bootstrap: str, topics: TopicNames
) -> None:
    batches = [
        api.EventBatch(batch_id=f"b{i}", events=[chunk(user=f"u{j}") for j in range(50)])
        for i in range(40)
    ]

    async def gen() -> AsyncIterator[api.EventBatch]:
        for b in batches:
            yield b

    acks = [ack async for ack in telemetry.StreamEvents(gen())]
    assert [a.batch_id for a in acks] == [b.batch_id for b in batches]
    assert sum(a.accepted for a in acks) == 2000
    records = read_all(kafka_bootstrap, topics.playback, 2000)
    ids = Counter(event_of(m).event_id for m in records)
    assert len(ids) == 2000 and max(ids.values()) == 1
    # Per user, Kafka holds the events in the order they were sent.
    sent_order: dict[str, list[str]] = {}
    for b in batches:
        for e in b.events:
            sent_order.setdefault(e.user_id, []).append(e.event_id)
    seen: dict[str, list[str]] = {}
    for m in sorted(records, key=lambda m: (m.partition(), m.offset())):
        ev = event_of(m)
        seen.setdefault(ev.user_id, []).append(ev.event_id)
    assert seen == sent_order


async def test_health_reflection_and_metrics(kafka_bootstrap: str, topics: TopicNames) -> None:
    labels = {
        "grpc_service": "reelstream.telemetry.v1.TelemetryService",
        "grpc_method": "IngestBatch",
        "grpc_code": "OK",
    }
    before = REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0
    runtime = await start_telemetry(kafka_bootstrap, topics)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
            await api_grpc.TelemetryServiceStub(channel).IngestBatch(
                api.EventBatch(events=[chunk()])
            )
            assert REGISTRY.get_sample_value("grpc_server_handled_total", labels) == before + 1
            accepted = {"kind": "chunk_downloaded"}
            assert (
                REGISTRY.get_sample_value("reelstream_telemetry_events_accepted_total", accepted)
                or 0
            ) >= 1
            health = health_pb2_grpc.HealthStub(channel)
            resp = await health.Check(
                health_pb2.HealthCheckRequest(service="reelstream.telemetry.v1.TelemetryService")
            )
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            refl = reflection_pb2_grpc.ServerReflectionStub(channel)
            names: list[str] = []
            async for r in refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            ):
                names = [s.name for s in r.list_services_response.service]
            assert "reelstream.telemetry.v1.TelemetryService" in names
    finally:
        await runtime.stop()
    assert REGISTRY.get_sample_value("reelstream_ready") == 0


async def test_broker_down_gives_unavailable_and_loses_nothing_acked(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "kafka")
    broker.start()
    try:
        ensure_topics(broker.bootstrap, "outage-")
        topics = TopicNames("outage-")
        runtime = await start_telemetry(broker.bootstrap, topics, delivery_timeout_ms=3000)
        acked: set[str] = set()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as ch:
                stub = api_grpc.TelemetryServiceStub(ch)
                for i in range(5):
                    events = [chunk(user=f"u{j}") for j in range(100)]
                    ack = await stub.IngestBatch(api.EventBatch(batch_id=f"pre{i}", events=events))
                    assert ack.accepted == 100
                    acked.update(e.event_id for e in events)

                broker.stop()
                t0 = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.IngestBatch(
                        api.EventBatch(batch_id="during", events=[chunk() for _ in range(50)])
                    )
                waited = time.monotonic() - t0
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
                assert waited < 3 + 5 + 2  # bounded: delivery timeout plus margin

                broker.start()
                for i in range(5):
                    events = [chunk(user=f"u{j}") for j in range(100)]
                    for _attempt in range(20):  # the producer reconnects within seconds
                        try:
                            ack = await stub.IngestBatch(
                                api.EventBatch(batch_id=f"post{i}", events=events)
                            )
                            break
                        except grpc.aio.AioRpcError as e:
                            assert e.code() == grpc.StatusCode.UNAVAILABLE
                            await asyncio.sleep(0.5)
                    else:
                        pytest.fail("telemetry did not recover after the broker came back")
                    assert ack.accepted == 100
                    acked.update(e.event_id for e in events)
        finally:
            await runtime.stop()

        records = read_all(broker.bootstrap, topics.playback, len(acked), timeout_s=60)
        counts = Counter(event_of(m).event_id for m in records)
        missing = acked - set(counts)
        assert not missing, f"{len(missing)} acknowledged events lost"
        dups = {k: v for k, v in counts.items() if k in acked and v > 1}
        assert not dups, f"acknowledged events duplicated: {list(dups)[:5]}"
    finally:
        broker.stop()
