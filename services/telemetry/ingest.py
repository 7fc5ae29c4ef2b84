"""The ingest path: validate, stamp, produce durably, report what was rejected and why.

:class:`Ingestor` is the whole of telemetry's logic, independent of gRPC: it
takes a batch of events and returns only once Kafka holds every accepted event
(idempotent producer, acks=all). Rejected events are written to the
dead-letter topic with their reason, in the same durable wait.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge, Histogram

from reelstream.common.v1 import types_pb2
from reelstream.platform.metrics import LATENCY_BUCKETS
from reelstream.platform.producer import DurableProducer
from reelstream.platform.topics import TopicNames
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.subscription.v1 import events_pb2 as sub_pb
from reelstream.telemetry.v1 import telemetry_pb2 as api
from services.telemetry.validation import (
    Limits,
    Problem,
    validate_playback_kind,
    validate_subscription,
)

ACCEPTED = PromCounter(
    "reelstream_telemetry_events_accepted_total", "Events written to Kafka.", ["kind"]
)
REJECTED = PromCounter(
    "reelstream_telemetry_events_rejected_total",
    "Events rejected, by kind and reason code.",
    ["kind", "code"],
)
PRODUCE_SECONDS = Histogram(
    "reelstream_telemetry_produce_seconds",
    "Time from the first produce of a batch to Kafka confirming all of it.",
    buckets=LATENCY_BUCKETS,
)
BATCH_EVENTS = Histogram(
    "reelstream_telemetry_batch_events",
    "Events per batch received.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
IN_FLIGHT = Gauge("reelstream_telemetry_in_flight_batches", "Batches waiting for Kafka.")


class BatchTooLarge(ValueError):
    """The batch itself is unacceptable (not one of its events): INVALID_ARGUMENT."""


@dataclass
class IngestResult:
    """What the ack says: accepted count and the rejections."""

    accepted: int
    rejections: list[api.Rejection]


class Ingestor:
    """Validate → stamp ingest time → produce keyed by user id → await durability."""

    def __init__(
        self,
        producer: DurableProducer,
        topics: TopicNames,
        limits: Limits,
        *,
        max_batch_events: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.producer = producer
        self.topics = topics
        self.limits = limits
        self.max_batch_events = max_batch_events
        self.clock = clock

    def _check_size(self, n: int) -> None:
        if n > self.max_batch_events:
            raise BatchTooLarge(f"events: {n} events in one batch, at most {self.max_batch_events}")

    def _reject(
        self,
        index: int,
        ev: pb.PlaybackEvent | sub_pb.SubscriptionEvent,
        kind: str,
        problem: Problem,
        now_ms: int,
        rejections: list[api.Rejection],
        dead: list[tuple[bytes, bytes]],
    ) -> None:
        """Name the rejected event in the ack and queue its dead letter (original bytes + reason)."""
        rejections.append(
            api.Rejection(
                index=index,
                event_id=ev.event_id,
                field=problem.field,
                code=problem.code,
                reason=problem.reason,
            )
        )
        REJECTED.labels(kind, problem.code).inc()
        letter = types_pb2.DeadLetter(
            service="telemetry",
            payload=ev.SerializeToString(),
            field=problem.field,
            code=problem.code,
            reason=problem.reason,
            time_ms=now_ms,
        )
        dead.append((ev.user_id.encode(), letter.SerializeToString()))

    async def ingest_playback(self, events: Sequence[pb.PlaybackEvent]) -> IngestResult:
        """Ingest one batch of playback events; raises DeliveryError if Kafka did not take it."""
        n = len(events)
        self._check_size(n)
        BATCH_EVENTS.observe(n)
        now_ms = int(self.clock() * 1000)
        limits = self.limits
        max_bytes = limits.max_event_bytes
        records: list[tuple[bytes, bytes]] = []
        append = records.append
        kinds: Counter[str] = Counter()
        rejections: list[api.Rejection] = []
        dead: list[tuple[bytes, bytes]] = []
        for i, ev in enumerate(events):
            kind = ev.WhichOneof("kind")
            problem = validate_playback_kind(ev, kind, now_ms, limits)
            if problem is None:
                ev.ingest_time_ms = now_ms
                data = ev.SerializeToString()
                if len(data) <= max_bytes:
                    append((ev.user_id.encode(), data))
                    kinds[kind or ""] += 1
                    continue
                problem = Problem(
                    "", "TOO_LARGE", f"event is {len(data)} bytes, at most {max_bytes}"
                )
            self._reject(i, ev, kind or "none", problem, now_ms, rejections, dead)
        await self._write(self.topics.playback, records, dead)
        for name, count in kinds.items():
            ACCEPTED.labels(name).inc(count)
        return IngestResult(len(records), rejections)

    async def ingest_subscriptions(
        self, events: Sequence[sub_pb.SubscriptionEvent]
    ) -> IngestResult:
        """Ingest subscription lifecycle events (same guarantees as playback)."""
        self._check_size(len(events))
        now_ms = int(self.clock() * 1000)
        records: list[tuple[bytes, bytes]] = []
        rejections: list[api.Rejection] = []
        dead: list[tuple[bytes, bytes]] = []
        for i, ev in enumerate(events):
            problem = validate_subscription(ev, now_ms, self.limits)
            if problem is None:
                ev.ingest_time_ms = now_ms
                records.append((ev.user_id.encode(), ev.SerializeToString()))
                continue
            self._reject(i, ev, "subscription", problem, now_ms, rejections, dead)
        await self._write(self.topics.subscription, records, dead)
        ACCEPTED.labels("subscription").inc(len(records))
        return IngestResult(len(records), rejections)

    async def _write(
        self, topic: str, records: list[tuple[bytes, bytes]], dead: list[tuple[bytes, bytes]]
    ) -> None:
        IN_FLIGHT.inc()
        t0 = time.perf_counter()
        try:
            if dead:
                await asyncio.gather(
                    self.producer.send_batch(self.topics.dead_letters, dead, len(dead)),
                    self.producer.send_batch(topic, records, len(records)),
                )
            else:
                await self.producer.send_batch(topic, records, len(records))
        finally:
            IN_FLIGHT.dec()
        PRODUCE_SECONDS.observe(time.perf_counter() - t0)
