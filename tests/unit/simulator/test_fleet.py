"""The fleet end to end without a broker: events that telemetry accepts, in order, with fallbacks.

Telemetry is not running: the sink only buffers. Recommendation and abr point
at closed ports, so every viewer must degrade (default row, BBA) and the
fleet must not crash.
"""

import asyncio
import time
from collections import defaultdict

import grpc
import pytest

from reelstream.playback.v1 import events_pb2 as pb
from services.simulator.__main__ import build_fleet
from services.simulator.clock import SimClock
from services.simulator.settings import SimulatorSettings
from services.telemetry.validation import Limits, validate_playback, validate_subscription

END_KINDS = {"complete", "stop", "skip"}


@pytest.fixture
async def ran_fleet():
    settings = SimulatorSettings(
        users=40, titles=400, speed=1e7, seed=11, mean_sitting_minutes=10.0, batch_events=10_000,
        publish_catalog=False, rpc_timeout_s=0.2, progress_interval_s=60.0,
    )  # fmt: skip
    clock = SimClock(settings.speed, span_s=3 * 86_400.0)
    channels = tuple(grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in (1, 2, 3))
    fleet = build_fleet(settings, clock, channels)
    fleet.seed_schedule()
    stop = asyncio.Event()

    async def until_caught_up() -> None:
        deadline = time.monotonic() + 10.0
        horizon = clock.start + 2.9 * 86_400
        while time.monotonic() < deadline:
            if fleet.in_flight == 0 and fleet.heap and fleet.heap[0][0] > horizon:
                break
            await asyncio.sleep(0.05)
        stop.set()

    watcher = asyncio.ensure_future(until_caught_up())
    await fleet.run(stop)
    await watcher
    for ch in channels:
        await ch.close()
    return fleet, clock


async def test_every_event_passes_telemetry_validation(ran_fleet):
    fleet, clock = ran_fleet
    events = fleet.sink.buffered
    assert len(events) > 1000
    now_ms = int(time.time() * 1000)
    limits = Limits()
    problems = [(e.WhichOneof("kind"), validate_playback(e, now_ms, limits)) for e in events]
    assert [p for p in problems if p[1] is not None] == []
    subs = fleet.sink.buffered_subscriptions
    assert sum(s.WhichOneof("kind") == "signup" for s in subs) >= 40
    assert all(validate_subscription(s, now_ms, limits) is None for s in subs)
    # Simulated time covered (most of) the three days and stayed behind the real clock.
    assert clock.start + 2.9 * 86_400 < fleet.frontier() <= time.time()
    assert max(e.event_time_ms for e in events) <= now_ms + 300_000


async def test_many_kinds_in_per_user_and_per_session_order(ran_fleet):
    fleet, _ = ran_fleet
    events = fleet.sink.buffered
    kinds = {e.WhichOneof("kind") for e in events}
    assert {
        "impression",
        "click",
        "session_start",
        "play",
        "chunk_downloaded",
        "heartbeat",
    } <= kinds
    assert kinds & END_KINDS
    by_user: dict[str, list[pb.PlaybackEvent]] = defaultdict(list)
    by_session: dict[str, list[str]] = defaultdict(list)
    for e in events:
        by_user[e.user_id].append(e)
        if e.session_id:
            by_session[e.session_id].append(e.WhichOneof("kind") or "")
    for user_events in by_user.values():
        times = [e.event_time_ms for e in user_events]
        assert times == sorted(times)
    for session, ks in by_session.items():
        assert ks[:3] == ["click", "session_start", "play"], session
        ends = [i for i, k in enumerate(ks) if k in END_KINDS]
        assert len(ends) <= 1
        if ends:  # nothing after the end but maybe a rating
            assert set(ks[ends[0] + 1 :]) <= {"rating"}
        chunks = [k for k in ks if k == "chunk_downloaded"]
        assert chunks or ks[-1] in END_KINDS or len(ks) == 3
    # Every chunk carries the player's progress measurement: the end of its own transfer.
    for c in (e.chunk_downloaded for e in events if e.HasField("chunk_downloaded")):
        if c.download_ms < 120_000:  # longer ones are cut short and not measured
            assert 0 < c.tail_ms <= min(500.0, c.download_ms), c
            assert 0 < c.tail_bytes <= c.bytes, c


async def test_services_down_degrade_to_fallbacks(ran_fleet):
    fleet, _ = ran_fleet
    rec, abr = fleet.viewers.svc.rec, fleet.viewers.svc.abr
    assert rec.errors >= 1 and rec.fallbacks > rec.errors  # the breaker spared most calls
    assert abr.fallbacks > 0
    assert fleet.action_errors == 0
    impressions = [e.impression for e in fleet.sink.buffered if e.HasField("impression")]
    assert {i.row_id for i in impressions} == {"default-popular"}
    # The BBA fallback made real decisions: several rungs were used.
    rungs = {e.chunk_downloaded.rung for e in fleet.sink.buffered if e.HasField("chunk_downloaded")}
    assert len(rungs) >= 3


async def test_design_settings_reach_the_viewers():
    # The breaker waits 2 simulated seconds (wall time scaled by the speed), and the run's
    # experiment design (session share, pre-period) is what the viewers are given.
    settings = SimulatorSettings(
        users=5, titles=50, speed=100.0, abr_learned_share=0.25, rec_pre_period_h=6.0,
        publish_catalog=False,
    )  # fmt: skip
    clock = SimClock(settings.speed, span_s=86_400.0)
    channels = tuple(grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in (1, 2, 3))
    fleet = build_fleet(settings, clock, channels)
    v = fleet.viewers
    assert v.svc.abr.breaker.cooldown_s == pytest.approx(0.02)
    assert v.svc.rec.breaker.cooldown_s == pytest.approx(0.02)
    assert v.assignment.abr_learned_share == 0.25
    assert v.assignment.rec_start_s == pytest.approx(clock.start + 6 * 3600.0)
    for ch in channels:
        await ch.close()
