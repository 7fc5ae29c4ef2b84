"""A durable, asyncio-friendly Kafka producer on confluent-kafka.

Idempotent (no duplicates from internal retries), ``acks=all``, and every
message reports its delivery. :meth:`DurableProducer.send_batch` returns only
when Kafka has *every* message of the batch, so a caller can acknowledge to its
own client with a clear conscience; if any message fails (broker gone past the
bounded ``delivery_timeout_ms``), it raises :class:`DeliveryError`.

Delivery callbacks are served by one background thread calling ``poll``; the
asyncio side waits on a future completed thread-safely, so the event loop
never blocks on Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """At least one message of a batch was not durably written."""


def producer_config(bootstrap: str, client_id: str, delivery_timeout_ms: int) -> dict[str, Any]:
    """The settings every Reelstream producer uses, and why.

    murmur2 partitioning matches the Java client and faust/aiokafka, so a key
    lands on the same partition whoever writes it (per-user co-partitioning).
    """
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "compression.type": "lz4",
        "linger.ms": 2,
        "batch.num.messages": 10_000,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 2_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.timeout.ms": delivery_timeout_ms,
        "socket.keepalive.enable": True,
    }


class _BatchTracker:
    """Counts delivery reports of one batch; completes a future when all are in."""

    __slots__ = ("errors", "future", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.pending = count
        self.errors: list[str] = []
        self.future: asyncio.Future[None] = loop.create_future()

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        # Runs on the poll thread; the GIL makes the decrement safe here.
        if err is not None:
            self.errors.append(err.str())
        self.pending -= 1
        if self.pending == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if self.future.done():
            return
        if self.errors:
            self.future.set_exception(
                DeliveryError(f"{len(self.errors)} message(s) not delivered: {self.errors[0]}")
            )
        else:
            self.future.set_result(None)


class DurableProducer:
    """Idempotent ``acks=all`` producer with per-batch delivery confirmation."""

    def __init__(
        self,
        bootstrap: str,
        client_id: str,
        *,
        delivery_timeout_ms: int = 10_000,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.delivery_timeout_ms = delivery_timeout_ms
        self._config = producer_config(bootstrap, client_id, delivery_timeout_ms)
        self._config.update(extra or {})
        self._config["error_cb"] = self._on_error
        self._producer = Producer(self._config)
        self._lock = threading.Lock()
        self._fatal: str | None = None
        self._running = True
        self._thread = threading.Thread(target=self._poll_forever, name="kafka-poll", daemon=True)
        self._thread.start()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            # An idempotent producer that hit a fatal error must be replaced.
            self._fatal = err.str()
            log.error("fatal producer error, will recreate", extra={"error": err.str()})
        else:
            log.warning("producer error", extra={"error": err.str()})

    def _poll_forever(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    def _recreate_if_fatal(self) -> None:
        if self._fatal is None:
            return
        with self._lock:
            if self._fatal is None:
                return
            old = self._producer
            self._producer = Producer(self._config)
            self._fatal = None
            old.purge()

    async def send_batch(
        self, topic: str, records: Iterable[tuple[bytes, bytes]], count: int
    ) -> None:
        """Produce ``count`` (key, value) records; return when all are durable.

        Raises DeliveryError if any record fails or the bounded wait expires.
        """
        if count == 0:
            return
        self._recreate_if_fatal()
        loop = asyncio.get_running_loop()
        tracker = _BatchTracker(loop, count)
        produce = self._producer.produce
        callback = tracker.on_delivery
        sent = 0
        try:
            for key, value in records:
                try:
                    produce(topic, value, key, on_delivery=callback)
                except BufferError:
                    # Local queue full: let the poll thread drain, then retry once.
                    await asyncio.sleep(0.01)
                    produce(topic, value, key, on_delivery=callback)
                sent += 1
        except KafkaException as exc:
            tracker.pending -= count - sent  # the unsent ones will never report
            raise DeliveryError(f"produce failed: {exc}") from exc
        if sent != count:
            raise ValueError(f"send_batch: {sent} records given, count said {count}")
        timeout = self.delivery_timeout_ms / 1000 + 5.0
        try:
            await asyncio.wait_for(asyncio.shield(tracker.future), timeout)
        except TimeoutError as exc:
            raise DeliveryError(f"no delivery report within {timeout:.0f} s") from exc

    def produce_nowait(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Fire-and-forget produce (still idempotent and acks=all); for dead letters."""
        self._recreate_if_fatal()
        try:
            self._producer.produce(topic, value, key)
        except BufferError:
            log.error("producer queue full, record dropped", extra={"topic": topic})

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for everything queued; return how many records are still undelivered."""
        return int(self._producer.flush(timeout_s))

    def in_flight(self) -> int:
        """Records queued or awaiting acknowledgement."""
        return len(self._producer)

    def close(self, timeout_s: float = 10.0) -> int:
        """Flush and stop the poll thread; return how many records were left undelivered."""
        left = self.flush(timeout_s)
        self._running = False
        self._thread.join(timeout=2)
        return left
