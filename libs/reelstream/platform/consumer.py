"""The model services' consume loop: explicit offsets, applied in slices on the event loop.

A model service's state is its model plus the offsets it has applied. This loop
owns the second half: it starts each assigned partition at the offset the
service's snapshot says (falling back to the group's committed offset, then to
the earliest record), hands every record to a plain handler function, and
tracks the next offset to apply per partition. Offsets are committed to Kafka
only when a snapshot containing them has been written (``commit``), so the
committed position never runs ahead of the model.

It runs *on the asyncio event loop*, between gRPC requests, in slices of a few
milliseconds: queries and updates never interleave, so no read sees a
half-applied event and no lock is needed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from reelstream.platform import metrics

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]


class BadRecord(Exception):
    """A record that reached Kafka but cannot be used: goes to the dead letters."""

    def __init__(self, reason: str, field: str = "", code: str = "INVALID") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.code = code


@dataclass
class ConsumerOptions:
    """How the loop consumes; see module doc for the offset policy."""

    bootstrap: str
    group_id: str
    topics: list[str]
    max_records: int = 500
    slice_ms: float = 2.0
    idle_sleep_s: float = 0.002
    # Idle polls back off (doubling) up to this: a quiet topic then costs the serving event
    # loop ~50 wakeups/s instead of 500, for at most this much delay on the first new record.
    max_idle_sleep_s: float = 0.02


class ConsumeLoop:
    """poll → handle → track offsets, on the event loop, with dead letters for bad records."""

    def __init__(
        self,
        options: ConsumerOptions,
        handler: Callable[[Message], None],
        *,
        start_offsets: Offsets | None = None,
        dead_letter: Callable[[Message, BadRecord], None] | None = None,
    ) -> None:
        self.options = options
        self.handler = handler
        self.dead_letter = dead_letter
        self._start = dict(start_offsets or {})
        self._offsets: Offsets = {}
        self._last_ts_ms: dict[tuple[str, int], int] = {}
        self.assigned: set[tuple[str, int]] = set()
        self._pending: deque[Message] = deque()  # fetched, not yet applied (see poll_once)
        self.ready = asyncio.Event()
        self.applied_total = 0
        self._consumer = Consumer(
            {
                "bootstrap.servers": options.bootstrap,
                "group.id": options.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "range",
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
                "fetch.wait.max.ms": 50,
                "error_cb": lambda err: log.warning("consumer error", extra={"error": str(err)}),
            }
        )
        self._consumer.subscribe(
            options.topics, on_assign=self._on_assign, on_revoke=self._on_revoke
        )

    # -- rebalance ---------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in consumer.committed(partitions, timeout=10)
            if tp.offset >= 0
        }
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if key in self._offsets:
                tp.offset = self._offsets[key]
            elif key in self._start:
                tp.offset = self._start[key]
            elif key in committed:
                tp.offset = committed[key]
            else:
                tp.offset = OFFSET_BEGINNING
            self.assigned.add(key)
        consumer.assign(partitions)
        log.info("partitions assigned", extra={"partitions": sorted(self.assigned)})
        self.ready.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assigned.discard((tp.topic, tp.partition))
        consumer.unassign()

    # -- the loop ----------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Apply what is available now, for at most ``slice_ms``; return records applied.

        The deadline is checked after every record, not after every fetched batch: a burst
        of records (telemetry acks in batches) would otherwise hold the event loop, and every
        request queued behind it, for the whole batch. Records fetched but not yet applied
        wait in ``_pending`` for the next slice; ``consume`` (and so any rebalance callback)
        runs only once they are all applied, so a revoked partition never leaves stale ones.
        """
        deadline = time.perf_counter() + self.options.slice_ms / 1000
        applied = 0
        pending = self._pending
        while True:
            if not pending:
                msgs = self._consumer.consume(self.options.max_records, timeout=0)
                if not msgs:
                    return applied
                pending.extend(msgs)
            while pending:
                msg = pending.popleft()
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("consume error", extra={"error": err.str()})
                    continue
                self._apply(msg)
                applied += 1
                if time.perf_counter() > deadline:
                    return applied

    def _apply(self, msg: Message) -> None:
        topic, partition, offset = (
            str(msg.topic()),
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )
        key = (topic, partition)
        start = time.perf_counter()
        try:
            self.handler(msg)
            metrics.CONSUMED.labels(topic).inc()
        except BadRecord as bad:
            metrics.DEAD_LETTERS.labels(bad.code).inc()
            if self.dead_letter is not None:
                self.dead_letter(msg, bad)
        except Exception as exc:  # a bug must not stop the consumer: dead-letter, log, go on
            log.exception("handler failed", extra={"topic": topic, "offset": offset})
            metrics.DEAD_LETTERS.labels("HANDLER_ERROR").inc()
            if self.dead_letter is not None:
                self.dead_letter(msg, BadRecord(f"handler error: {exc!r}", code="HANDLER_ERROR"))
        metrics.APPLY_SECONDS.observe(time.perf_counter() - start)
        self._offsets[key] = offset + 1
        ts_type, ts = msg.timestamp()
        if ts_type and ts > 0:
            self._last_ts_ms[key] = ts
        self.applied_total += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, yielding to the event loop between slices."""
        last_lag = 0.0
        idle = self.options.idle_sleep_s
        while not stop.is_set():
            applied = self.poll_once()
            now = time.monotonic()
            if now - last_lag > 1.0:
                self.update_lag_metrics()
                last_lag = now
            if applied:
                idle = self.options.idle_sleep_s
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(idle)
                idle = min(2 * idle, self.options.max_idle_sleep_s)

    # -- offsets, lag, commit ----------------------------------------------------------------
    def offsets(self) -> Offsets:
        """Next offset to apply per partition, for the snapshot taken with the model."""
        return dict(self._offsets)

    def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet applied, per assigned partition (cached high watermarks)."""
        out = {}
        for key in self.assigned:
            _low, high = self._consumer.get_watermark_offsets(
                TopicPartition(*key), timeout=1, cached=True
            ) or (0, 0)
            if high < 0:
                continue
            out[key] = max(0, high - self._offsets.get(key, self._start.get(key, 0)))
        return out

    def update_lag_metrics(self) -> None:
        """Refresh the lag gauges (records and seconds) from the last applied records."""
        now_ms = time.time() * 1000
        total = 0
        for (topic, partition), lag in self.lag().items():
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
            total += lag
            ts = self._last_ts_ms.get((topic, partition))
            seconds = (now_ms - ts) / 1000 if (ts and lag > 0) else 0.0
            metrics.CONSUMER_LAG_SECONDS.labels(topic, str(partition)).set(max(0.0, seconds))

    def commit(self, offsets: Offsets) -> None:
        """Commit offsets that a written snapshot contains (never ahead of the model)."""
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items() if (t, p) in self.assigned]
        if tps:
            try:
                self._consumer.commit(offsets=tps, asynchronous=True)
            except Exception:  # commit is informational; the snapshot is the truth
                log.warning("offset commit failed", exc_info=True)

    def close(self) -> None:
        """Leave the group promptly so a replacement gets the partitions at once."""
        self._consumer.close()
