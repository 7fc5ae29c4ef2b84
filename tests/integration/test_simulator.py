"""The player-fleet simulator against real telemetry and the real broker (rec/abr absent)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from reelstream.catalog.v1 import catalog_pb2
from reelstream.platform.topics import TopicNames
from reelstream.subscription.v1 import events_pb2 as sub_pb
from services.simulator.__main__ import run_simulator
from services.simulator.settings import SimulatorSettings
from services.telemetry.__main__ import serve
from services.telemetry.settings import TelemetrySettings
from tests.conftest import free_port
from tests.kafka_util import event_of, read_all

pytestmark = pytest.mark.integration


async def test_simulated_days_reach_kafka_in_order(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    runtime, _ = await serve(
        TelemetrySettings(
            kafka_bootstrap=kafka_bootstrap, topic_prefix=topics.prefix, grpc_port=0, metrics_port=0
        )
    )
    summary_path = tmp_path / "summary.json"
    settings = SimulatorSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topics.prefix,
        telemetry_addr=f"127.0.0.1:{runtime.port}",
        recommendation_addr=f"127.0.0.1:{free_port()}",  # nobody listens: must degrade
        abr_addr=f"127.0.0.1:{free_port()}",
        users=50,
        titles=400,
        speed=20_000.0,
        duration_s=15.0,  # 300 000 simulated seconds: about 3.5 days
        mean_sitting_minutes=8.0,
        summary_path=summary_path,
        progress_interval_s=3.0,
    )
    try:
        result = await run_simulator(settings, asyncio.Event())
    finally:
        await runtime.stop()

    run = result["run"]
    assert run["sim_days"] > 2.5
    assert run["events_unsent"] == 0 and run["events_rejected"] == {}
    assert run["rpc"]["recommendation"]["fallbacks"] > 0 and run["rpc"]["abr"]["fallbacks"] > 0
    assert run["action_errors"] == 0

    playback_expected = run["events_acked"] - run["events_by_kind"]["subscription"]
    records = read_all(kafka_bootstrap, topics.playback, playback_expected, timeout_s=30)
    assert len(records) == playback_expected
    events = [event_of(m) for m in records]
    kinds = Counter(e.WhichOneof("kind") for e in events)
    assert kinds == Counter({k: n for k, n in run["events_by_kind"].items() if k != "subscription"})
    assert len(kinds) >= 9
    for kind in ("impression", "click", "session_start", "play", "chunk_downloaded", "heartbeat"):
        assert kinds[kind] > 0, kind
    # Per-user order: within a partition, each user's events come in event-time order.
    by_user: dict[str, list[int]] = defaultdict(list)
    for msg, ev in zip(records, events, strict=True):
        assert msg.key() == ev.user_id.encode()
        by_user[ev.user_id].append(ev.event_time_ms)
    assert len(by_user) >= 30
    for times in by_user.values():
        assert times == sorted(times)

    subs = read_all(kafka_bootstrap, topics.subscription, run["events_by_kind"]["subscription"])
    sub_kinds = Counter(
        sub_pb.SubscriptionEvent.FromString(m.value() or b"").WhichOneof("kind") for m in subs
    )
    assert sub_kinds["signup"] >= 50

    catalog = read_all(kafka_bootstrap, topics.catalog, run["catalog_published"])
    assert run["catalog_published"] >= 380  # all but the titles released after the run
    titles = [catalog_pb2.Title.FromString(m.value() or b"") for m in catalog]
    assert len({t.title_id for t in titles}) == run["catalog_published"]
    assert all(m.key() == t.title_id.encode() for m, t in zip(catalog, titles, strict=True))
    assert all(t.genres and t.duration_s > 0 for t in titles)

    written = json.loads(summary_path.read_text())
    for experiment in ("recommendation", "abr"):
        arms = written["experiments"][experiment]["arms"]
        if experiment == "recommendation":  # arm per user
            assert sum(a["users"] for a in arms.values()) >= 50
        else:  # arm per playback session: a user's sessions land in both arms
            assert all(a["sessions"] > 0 and a["users_with_sessions"] > 0 for a in arms.values())
        # the primary metrics of each experiment's readout (services/simulator/readout.py)
        primary = {
            "abr": {"rebuffer_ratio", "hours_per_session", "bitrate_kbps"},
            "recommendation": {"hours_per_user", "hours_per_sitting", "found_share"},
        }[experiment]
        assert set(written["experiments"][experiment]["lift"]) >= primary
