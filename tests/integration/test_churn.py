"""Churn over real Kafka and gRPC: risk served, at-risk paging, one action per crossing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from reelstream.churn.v1 import churn_pb2 as api
from reelstream.churn.v1 import churn_pb2_grpc as api_grpc
from reelstream.features.v1 import engagement_pb2
from reelstream.platform.producer import DurableProducer
from reelstream.platform.topics import TopicNames
from services.churn.__main__ import serve
from services.churn.settings import ChurnSettings
from tests.conftest import free_port
from tests.kafka_util import read_all

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


def snapshot(
    user: str, t_ms: int, minutes_7d: float, unfinished: str = ""
) -> engagement_pb2.EngagementSnapshot:
    return engagement_pb2.EngagementSnapshot(
        user_id=user,
        snapshot_time_ms=t_ms,
        emitted_time_ms=int(time.time() * 1000),
        reason="change",
        features={
            "minutes_7d": minutes_7d,
            "sessions_7d": minutes_7d / 30,
            "rebuffer_ratio_7d": 0.01,
        },
        unfinished_title_id=unfinished,
    )


async def send(bootstrap: str, topic: str, snaps: list[engagement_pb2.EngagementSnapshot]) -> None:
    producer = DurableProducer(bootstrap, "test-engagement")
    await producer.send_batch(
        topic, [(s.user_id.encode(), s.SerializeToString()) for s in snaps], len(snaps)
    )
    producer.close()


async def test_risk_paging_and_one_action_per_crossing(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    common: dict[str, Any] = {
        "kafka_bootstrap": kafka_bootstrap,
        "topic_prefix": topics.prefix,
        "grpc_port": 0,
        "metrics_port": 0,
        "snapshot_dir": tmp_path,
        "snapshot_interval_s": 3600,
        # Any first risk crosses this: every user's first snapshot acts.
        "action_threshold": 0.01,
        # Nobody listens here: content falls back to the generic message.
        "recommendation_addr": f"127.0.0.1:{free_port()}",
    }
    settings = ChurnSettings(**common)
    runtime, host = await serve(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}")
    try:
        stub = api_grpc.ChurnServiceStub(channel)
        unknown = await stub.GetRisk(api.GetRiskRequest(user_id="nobody"))
        assert not unknown.known and 0 < unknown.probability < 1

        t0 = int(time.time() * 1000) - 20 * DAY_MS
        users = [f"sub-{i}" for i in range(5)]
        await send(
            kafka_bootstrap,
            topics.engagement,
            [snapshot(u, t0, 300.0, unfinished="title-7" if u == "sub-0" else "") for u in users],
        )

        async def scored() -> None:
            while len(host.learner.model) < len(users):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(scored(), 30)
        risk = await stub.GetRisk(api.GetRiskRequest(user_id="sub-0"))
        assert risk.known and risk.updated_time_ms == t0 and 0 < risk.probability < 1

        # Later snapshots in the same week stay above the threshold: no second action.
        await send(
            kafka_bootstrap, topics.engagement, [snapshot(u, t0 + DAY_MS, 100.0) for u in users]
        )
        actions = read_all(kafka_bootstrap, topics.retention_actions, len(users), timeout_s=90)
        got = [api.RetentionAction.FromString(m.value() or b"") for m in actions]
        assert sorted(a.user_id for a in got) == users  # exactly one each
        first = next(a for a in got if a.user_id == "sub-0")
        assert first.kind == api.ACTION_KIND_CONTINUE_WATCHING and list(first.title_ids) == [
            "title-7"
        ]
        assert first.reason and first.action_id and first.message
        other = next(a for a in got if a.user_id == "sub-1")
        assert other.kind in (api.ACTION_KIND_NEW_RECOMMENDATION, api.ACTION_KIND_QUALITY_APOLOGY)
        assert other.message  # recommendation is down: the generic message still goes out

        page1 = await stub.ListAtRisk(api.ListAtRiskRequest(threshold=0.0, page_size=2))
        assert page1.total == 5 and len(page1.users) == 2 and page1.next_page_token
        page2 = await stub.ListAtRisk(
            api.ListAtRiskRequest(threshold=0.0, page_size=2, page_token=page1.next_page_token)
        )
        ids = [u.user_id for u in page1.users] + [u.user_id for u in page2.users]
        assert len(set(ids)) == 4
        assert (
            page1.users[0].probability >= page1.users[1].probability >= page2.users[0].probability
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListAtRisk(api.ListAtRiskRequest(threshold=2.0))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        # Restart from the snapshot: the same crossings are not acted on again.
        await channel.close()
        await runtime.stop()
        runtime, host = await serve(settings)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}")
        await send(
            kafka_bootstrap, topics.engagement, [snapshot(u, t0 + 2 * DAY_MS, 90.0) for u in users]
        )
        await asyncio.sleep(3)
        again = read_all(kafka_bootstrap, topics.retention_actions, len(users) + 1, timeout_s=5)
        assert len(again) == len(users)
    finally:
        await channel.close()
        await runtime.stop()
