"""Recommendation over real Kafka and gRPC: learning, exclusion, restart from snapshot."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from reelstream.catalog.v1 import catalog_pb2
from reelstream.platform.producer import DurableProducer
from reelstream.platform.server import ServiceRuntime
from reelstream.platform.topics import TopicNames
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.recommendation.v1 import recommendation_pb2 as api
from reelstream.recommendation.v1 import recommendation_pb2_grpc as api_grpc
from reelstream.telemetry.v1 import telemetry_pb2 as tapi
from reelstream.telemetry.v1 import telemetry_pb2_grpc as tapi_grpc
from services.recommendation.__main__ import serve as serve_reco
from services.recommendation.settings import RecommendationSettings
from services.telemetry.__main__ import serve as serve_telemetry
from services.telemetry.settings import TelemetrySettings
from tests.conftest import ROOT, free_port
from tests.factories import now_ms

pytestmark = pytest.mark.integration
TITLES = [f"title-{i}" for i in range(60)]


async def publish_catalog(bootstrap: str, topics: TopicNames) -> None:
    producer = DurableProducer(bootstrap, "test-catalog")
    records = [
        (
            t.encode(),
            catalog_pb2.Title(
                title_id=t, name=t.upper(), genres=["drama" if i % 2 else "comedy"], duration_s=3000
            ).SerializeToString(),
        )
        for i, t in enumerate(TITLES)
    ]
    await producer.send_batch(topics.catalog, records, len(records))
    producer.close()


def complete(user: str, title: str, t: int) -> pb.PlaybackEvent:
    return pb.PlaybackEvent(
        event_id=f"{user}-{title}-{t}",
        user_id=user,
        session_id=f"s-{user}-{title}",
        title_id=title,
        event_time_ms=t,
        complete=pb.Complete(position_s=2990, duration_s=3000),
    )


class Stack:
    """Telemetry and recommendation in-process, on one test's topics."""

    def __init__(self, bootstrap: str, topics: TopicNames, state_dir: Path) -> None:
        self.bootstrap, self.topics, self.state_dir = bootstrap, topics, state_dir
        self.telemetry: ServiceRuntime | None = None
        self.reco: ServiceRuntime | None = None

    async def start_telemetry(self) -> tapi_grpc.TelemetryServiceStub:
        self.telemetry, _ = await serve_telemetry(
            TelemetrySettings(
                kafka_bootstrap=self.bootstrap,
                topic_prefix=self.topics.prefix,
                grpc_port=0,
                metrics_port=0,
            )
        )
        self.tch = grpc.aio.insecure_channel(f"127.0.0.1:{self.telemetry.port}")
        return tapi_grpc.TelemetryServiceStub(self.tch)

    async def start_reco(self, **kw: Any) -> api_grpc.RecommendationServiceStub:
        self.reco, self.host = await serve_reco(
            RecommendationSettings(
                kafka_bootstrap=self.bootstrap,
                topic_prefix=self.topics.prefix,
                grpc_port=0,
                metrics_port=0,
                snapshot_dir=self.state_dir,
                snapshot_interval_s=3600,
                **kw,
            )
        )
        self.rch = grpc.aio.insecure_channel(f"127.0.0.1:{self.reco.port}")
        return api_grpc.RecommendationServiceStub(self.rch)

    async def stop_reco(self) -> None:
        assert self.reco is not None
        await self.rch.close()
        await self.reco.stop()

    async def stop(self) -> None:
        if self.reco is not None and not self.reco.stop_event.is_set():
            await self.stop_reco()
        if self.telemetry is not None:
            await self.tch.close()
            await self.telemetry.stop()


@pytest.fixture
async def stack(kafka_bootstrap: str, topics: TopicNames, tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(kafka_bootstrap, topics, tmp_path / "state")
    yield s
    await s.stop()


async def wait_applied(
    stub: api_grpc.RecommendationServiceStub, user: str, n: int, timeout_s: float = 30
) -> api.RecommendResponse:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = await stub.Recommend(api.RecommendRequest(user_id=user, k=10))
        if resp.user_events_applied >= n or time.monotonic() > deadline:
            return resp
        await asyncio.sleep(0.05)


async def test_plays_shape_recommendations_and_finished_are_excluded(stack: Stack) -> None:
    telemetry = await stack.start_telemetry()
    await publish_catalog(stack.bootstrap, stack.topics)
    reco = await stack.start_reco()
    t = now_ms() - 3_600_000
    # Thirty viewers watch title-1 then title-2: a strong "watched together" pattern.
    events = []
    for u in range(30):
        events += [
            complete(f"crowd-{u}", "title-1", t + u * 1000),
            complete(f"crowd-{u}", "title-2", t + u * 1000 + 500),
        ]
    # A weaker pattern: title-1 also goes with title-3 .. title-12, one small crowd each.
    for k in range(3, 13):
        for u in range(3):
            events += [
                complete(f"side-{k}-{u}", "title-1", t + 40_000 + k * 100 + u),
                complete(f"side-{k}-{u}", f"title-{k}", t + 40_050 + k * 100 + u),
            ]
    ack = await telemetry.IngestBatch(tapi.EventBatch(events=events))
    assert ack.accepted == len(events)
    await wait_applied(reco, "side-12-2", 2)

    cold = await reco.Recommend(api.RecommendRequest(user_id="newbie", k=10))
    assert cold.cold_start and len(cold.titles) == 10

    ack = await telemetry.IngestBatch(
        tapi.EventBatch(events=[complete("viewer", "title-1", t + 60_000)])
    )
    resp = await wait_applied(reco, "viewer", 1)
    assert resp.user_events_applied == 1
    ids = [x.title_id for x in resp.titles]
    assert "title-2" in ids[:3], ids  # what people watch next after title-1
    assert "title-1" not in ids  # finished: excluded

    similar = await reco.SimilarTitles(api.SimilarTitlesRequest(title_id="title-1", k=5))
    assert similar.titles[0].title_id == "title-2"

    rows = await reco.HomeRows(api.HomeRowsRequest(user_id="viewer", max_rows=6, titles_per_row=5))
    kinds = [r.kind for r in rows.rows]
    assert kinds[0] == api.ROW_KIND_TOP_PICKS and api.ROW_KIND_BECAUSE_YOU_WATCHED in kinds
    on_screen = [x.title_id for r in rows.rows for x in r.titles]
    assert len(on_screen) == len(set(on_screen)), on_screen  # each title once per screen
    assert "title-2" in [x.title_id for x in rows.rows[0].titles]  # the strongest, first
    assert "title-1" not in on_screen  # finished
    # "Because you watched" gets title-1's other companions, those the top row left.
    byw = next(r for r in rows.rows if r.kind == api.ROW_KIND_BECAUSE_YOU_WATCHED)
    assert byw.title == "Because you watched TITLE-1" and byw.titles
    companions = {f"title-{k}" for k in range(2, 13)}
    assert {x.title_id for x in byw.titles} <= companions, byw

    pop = await reco.HomeRows(
        api.HomeRowsRequest(user_id="viewer", max_rows=2, titles_per_row=5, variant="popularity")
    )
    assert pop.rows and all(r.row_id.startswith("popular") for r in pop.rows)

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reco.Recommend(api.RecommendRequest(user_id="viewer", k=100_000))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "k must be" in (
        err.value.details() or ""
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reco.Recommend(api.RecommendRequest(k=5))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in (
        err.value.details() or ""
    )


async def test_restart_from_snapshot_resumes_exactly(stack: Stack) -> None:
    telemetry = await stack.start_telemetry()
    await publish_catalog(stack.bootstrap, stack.topics)
    reco = await stack.start_reco()
    t = now_ms() - 3_600_000
    first = [complete("u", f"title-{i}", t + i) for i in range(10)]
    await telemetry.IngestBatch(tapi.EventBatch(events=first))
    assert (await wait_applied(reco, "u", 10)).user_events_applied == 10
    await stack.stop_reco()  # graceful: final snapshot with offsets

    # Events that arrive while it is down are applied once after the restart.
    later = [complete("u", f"title-{i}", t + 100 + i) for i in range(10, 15)]
    await telemetry.IngestBatch(tapi.EventBatch(events=later))
    reco = await stack.start_reco()
    resp = await wait_applied(reco, "u", 15)
    await asyncio.sleep(1.0)  # anything applied twice would show up as > 15
    resp = await reco.Recommend(api.RecommendRequest(user_id="u", k=10))
    assert resp.user_events_applied == 15
    assert not {x.title_id for x in resp.titles} & {f"title-{i}" for i in range(15)}


async def test_kill_9_loses_nothing_and_applies_nothing_twice(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    stack = Stack(kafka_bootstrap, topics, tmp_path / "state")
    telemetry = await stack.start_telemetry()
    try:
        await publish_catalog(kafka_bootstrap, topics)
        port = free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": kafka_bootstrap,
            "REELSTREAM_TOPIC_PREFIX": topics.prefix,
            "RECOMMENDATION_GRPC_PORT": str(port),
            "RECOMMENDATION_METRICS_PORT": str(free_port()),
            "RECOMMENDATION_SNAPSHOT_DIR": str(tmp_path / "state"),
            "RECOMMENDATION_SNAPSHOT_INTERVAL_S": "0.5",
        }

        def launch() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "services.recommendation"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / "reco.log", "ab"),
            )

        async def applied(n: int) -> int:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = api_grpc.RecommendationServiceStub(ch)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        resp = await stub.Recommend(
                            api.RecommendRequest(user_id="k9", k=5), timeout=2
                        )
                        if resp.user_events_applied >= n:
                            await asyncio.sleep(1.0)
                            return (
                                await stub.Recommend(api.RecommendRequest(user_id="k9", k=5))
                            ).user_events_applied
                    except grpc.aio.AioRpcError:
                        pass
                    await asyncio.sleep(0.1)
            raise AssertionError((tmp_path / "reco.log").read_text()[-2000:])

        proc = launch()
        t = now_ms() - 3_600_000
        await telemetry.IngestBatch(
            tapi.EventBatch(events=[complete("k9", f"title-{i}", t + i) for i in range(8)])
        )
        assert await applied(8) == 8
        await asyncio.sleep(1.5)  # at least one periodic snapshot after the 8 events
        await telemetry.IngestBatch(
            tapi.EventBatch(events=[complete("k9", f"title-{i}", t + i) for i in range(8, 12)])
        )
        assert await applied(12) == 12
        proc.send_signal(signal.SIGKILL)  # no final snapshot
        proc.wait()
        await telemetry.IngestBatch(
            tapi.EventBatch(events=[complete("k9", f"title-{i}", t + i) for i in range(12, 14)])
        )
        proc = launch()
        try:
            assert await applied(14) == 14
        finally:
            proc.terminate()
            proc.wait(20)
    finally:
        await stack.stop()
