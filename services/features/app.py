"""The features stream processor (faust): per-user engagement tables backed by changelogs.

Topology (all keyed by user id, co-partitioned):

    playback, subscription ──▶ agent ──▶ engagement table (rocksdb + changelog)
                                  │            └──▶ engagement snapshots topic (on change)
    ticks (from the sweep timer) ─┘                 └──▶ (daily tick per active user)
    catalog ──▶ titles global table (title id → genres)

Why faust here: windowed per-user state that must survive restarts and move with
its partitions on a rebalance is exactly what changelog-backed tables give; rocksdb
makes a restart recover from local disk in seconds instead of replaying the changelog.

Tables may only be changed inside stream iteration (faust writes the changelog to the
partition of the current event). So the daily tick is two steps: a timer *reads* the
local table and sends a tick record per due user to the ticks topic, and the agent,
consuming it on that user's partition, applies the tick. Event time, not wall time,
drives the days: the worker's watermark is the newest event time it has applied.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from reelstream.catalog.v1 import catalog_pb2
from reelstream.common.v1 import types_pb2
from reelstream.features.v1 import engagement_pb2
from reelstream.platform.consumer import BadRecord
from reelstream.platform.topics import USER_PARTITIONS, TopicNames
from services.features import metrics
from services.features.engagement import EngagementTracker
from services.features.events import DAY_S, Snapshot
from services.features.faustfix import FeaturesApp, SeekFirstTableManager
from services.features.mapping import decode
from services.features.settings import FeaturesSettings
from services.features.state import UserEngagement

log = logging.getLogger(__name__)
TICK = b"tick:"


def encode_snapshot(snap: Snapshot) -> bytes:
    """The wire form of a snapshot (EngagementSnapshot proto)."""
    return engagement_pb2.EngagementSnapshot(
        user_id=snap.user_id,
        snapshot_time_ms=int(snap.time * 1000),
        emitted_time_ms=int(time.time() * 1000),
        features=snap.features,
        reason=snap.reason,
        unfinished_title_id=snap.unfinished_title,
    ).SerializeToString()


def internal_topics(app: faust.App) -> list[tuple[str, int, dict[str, str]]]:
    """faust's own topics of this app: each table's changelog and the assignor's leader topic.

    The worker creates them itself at start, but only after its consumer has subscribed: a
    first worker on a fresh cluster could then be assigned partitions with a changelog
    "not found in cluster metadata", and faust 0.15.3 never finished that assignment (seen in
    a `make run` on a loaded machine: the worker sat idle for 30 minutes). Created beforehand
    with the same names and partition counts, they are in the metadata of the first join.
    """
    out: list[tuple[str, int, dict[str, str]]] = [
        (
            t.changelog_topic.get_topic_name(),
            t.changelog_topic.partitions or t.partitions or 1,
            {"cleanup.policy": "compact"},
        )
        for t in app.tables.values()
    ]
    out.append((f"{app.conf.id}-__assignor-__leader", 1, {}))
    return out


def create_app(settings: FeaturesSettings) -> faust.App:
    """Build the faust app (nothing connects until a worker starts it)."""
    names = TopicNames(settings.topic_prefix)
    app = FeaturesApp(  # faust.App with a consumer that fixes a record loss: see faustfix.py
        settings.topic_prefix + settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="rocksdb://",
        datadir=str(settings.data_dir),
        topic_partitions=USER_PARTITIONS,
        topic_replication_factor=1,
        table_standby_replicas=settings.standby_replicas,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        web_port=settings.web_port,
        stream_wait_empty=False,
        key_serializer="raw",  # every record is protobuf or our own bytes: no JSON anywhere
        value_serializer="raw",
        broker_commit_every=500,
        broker_commit_interval=1.0,
        # faust 0.15.3 resumes the stream partitions before seeking them and then clears the
        # agents' queues, which lost records at worker start: see services/features/faustfix.py.
        TableManager=SeekFirstTableManager,
    )
    tracker = EngagementTracker(
        lateness_s=settings.lateness_hours * 3600,
        emit_interval_s=settings.emit_interval_hours * 3600,
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    sources = app.topic(names.playback, names.subscription, names.features_ticks, **raw)
    catalog = app.topic(names.catalog, **raw)
    snapshots = app.topic(names.engagement, **raw)
    dead_letters = app.topic(names.dead_letters, **raw)
    table = app.Table(
        "engagement", default=None, partitions=USER_PARTITIONS, key_type=bytes, value_type=bytes
    )
    titles = app.GlobalTable("titles", default=None, partitions=1, key_type=bytes, value_type=bytes)
    genre_cache: dict[str, tuple[str, ...]] = {}
    watermark = {"t": 0.0}

    def genres_of(title_id: str) -> tuple[str, ...]:
        if title_id not in genre_cache:
            value = titles.get(title_id.encode())
            if not value:
                return ()  # not in the catalogue (yet): no genre, and not cached
            genre_cache[title_id] = tuple(value.decode().split("|"))
        return genre_cache[title_id]

    @app.agent(catalog)
    async def learn_titles(stream: faust.StreamT[Any]) -> None:
        async for value in stream:
            try:
                title = catalog_pb2.Title.FromString(value)
            except Exception:
                continue
            if title.title_id:
                titles[title.title_id.encode()] = "|".join(title.genres).encode()
                genre_cache[title.title_id] = tuple(title.genres)

    async def dead_letter(event: Any, bad: BadRecord) -> None:
        metrics.BAD.inc()
        msg = event.message
        await dead_letters.send(
            value=types_pb2.DeadLetter(
                service="features",
                source_topic=msg.topic,
                source_partition=msg.partition,
                source_offset=msg.offset,
                payload=event.value or b"",
                field=bad.field,
                code=bad.code,
                reason=bad.reason,
                time_ms=int(time.time() * 1000),
            ).SerializeToString()
        )

    def load(key: bytes) -> UserEngagement:
        data = table.get(key)
        return UserEngagement.from_bytes(data) if data else tracker.new_state(key.decode())

    @app.agent(sources)
    async def engage(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            key, value = event.key, event.value
            if not key:
                continue
            if value and value.startswith(TICK):
                await _tick(key, float(value[len(TICK) :]))
                continue
            try:
                ev = decode(event.message.topic, value, genres_of)
            except BadRecord as bad:
                await dead_letter(event, bad)
                continue
            if ev is None:
                continue
            st = load(key)
            dup, late = st.duplicates, st.dropped_late
            snap = tracker.apply(st, ev)
            table[key] = st.to_bytes()
            watermark["t"] = max(watermark["t"], ev.time)
            metrics.WATERMARK.set(watermark["t"])
            if st.duplicates > dup:
                metrics.DROPPED.labels("duplicate").inc()
            elif st.dropped_late > late:
                metrics.DROPPED.labels("late").inc()
            else:
                metrics.EVENTS.labels(ev.kind.value).inc()
            if event.message.timestamp:
                metrics.LAG.observe(max(0.0, time.time() - event.message.timestamp))
            if snap is not None:
                metrics.SNAPSHOTS.labels(snap.reason).inc()
                await snapshots.send(key=key, value=encode_snapshot(snap))

    async def _tick(key: bytes, now: float) -> None:
        data = table.get(key)
        if not data:
            return
        st = UserEngagement.from_bytes(data)
        if tracker.is_expired(st, now):
            del table[key]
            return
        snap = tracker.tick(st, now)
        if snap is not None:
            table[key] = st.to_bytes()
            metrics.SNAPSHOTS.labels("tick").inc()
            await snapshots.send(key=key, value=encode_snapshot(snap))

    ticks_topic = app.topic(names.features_ticks, **raw)

    @app.timer(interval=settings.tick_interval_s)
    async def sweep() -> None:
        """Read the local table; ask the agent to tick every user whose event-time day ended."""
        now = watermark["t"]
        if now <= 0:
            return
        day = int(now // DAY_S)
        users = 0
        for key, data in list(table.items()):
            users += 1
            st = UserEngagement.from_bytes(data)
            if (st.last_tick_day is None or st.last_tick_day < day) and (
                tracker.is_active(st, now) or tracker.is_expired(st, now)
            ):
                await ticks_topic.send(key=key, value=TICK + repr(now).encode())
        metrics.USERS.set(users)

    @app.on_partitions_assigned.connect
    def assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        tps = args[0] if args else kwargs.get("assigned", set())
        metrics.ASSIGNED.set(sum(1 for tp in tps if tp.topic == names.playback))
        metrics.RECOVERING.set(1)

    @app.on_rebalance_complete.connect
    def recovered(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        metrics.RECOVERING.set(0)

    app.reelstream = {"table": table, "tracker": tracker, "engage": engage}  # type: ignore[attr-defined]
    return app
