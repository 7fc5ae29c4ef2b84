"""Ships events to telemetry: one long-lived ``StreamEvents`` stream, a bounded window of batches.

Events are buffered and cut into batches of ``batch_events`` (or whatever has
waited ``linger_s``). At most ``max_in_flight`` batches are unacknowledged on
the stream; acks come back in order. If the stream fails (telemetry down,
Kafka slow: UNAVAILABLE), every unacknowledged batch is re-sent, in order, on
a new stream after a backoff: nothing is lost and a user's events stay in
order (a batch Kafka had taken before the failure may arrive twice; its event
ids are unchanged, so consumers deduplicate). Subscription events go by
``IngestSubscriptions`` with the same keep-until-acked rule.

:attr:`TelemetrySink.backlog` is what the fleet uses for backpressure: when
telemetry falls behind, simulated time waits rather than memory growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass

import grpc

from reelstream.playback.v1 import events_pb2 as pb
from reelstream.subscription.v1 import events_pb2 as sub_pb
from reelstream.telemetry.v1 import telemetry_pb2 as api
from reelstream.telemetry.v1 import telemetry_pb2_grpc as api_grpc
from services.simulator import metrics

log = logging.getLogger(__name__)


@dataclass
class _Batch:
    message: api.EventBatch
    kinds: list[str]


class TelemetrySink:
    """Buffered, windowed, retrying event shipping over one stream."""

    def __init__(
        self,
        stub: api_grpc.TelemetryServiceStub,
        *,
        batch_events: int = 500,
        max_in_flight: int = 16,
        linger_s: float = 0.05,
        rpc_timeout_s: float = 10.0,
    ) -> None:
        self.stub = stub
        self.batch_events = batch_events
        self.max_in_flight = max_in_flight
        self.linger_s = linger_s
        self.rpc_timeout_s = rpc_timeout_s
        self._buf: list[pb.PlaybackEvent] = []
        self._buf_kinds: list[str] = []
        self._buf_since = 0.0
        self._to_send: deque[_Batch] = deque()
        self._unacked: deque[_Batch] = deque()
        self._subs: list[sub_pb.SubscriptionEvent] = []
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._closing = False
        self._seq = 0
        self.sent: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.stream_failures = 0

    # -- producer side (the fleet) -------------------------------------------------------------

    def emit(self, ev: pb.PlaybackEvent, kind: str) -> None:
        """Queue one playback event (its ``kind`` given to spare a ``WhichOneof``)."""
        if not self._buf:
            self._buf_since = time.monotonic()
        self._buf.append(ev)
        self._buf_kinds.append(kind)
        if len(self._buf) >= self.batch_events:
            self._wake.set()

    def emit_subscription(self, ev: sub_pb.SubscriptionEvent) -> None:
        """Queue one subscription lifecycle event."""
        self._subs.append(ev)

    @property
    def buffered(self) -> list[pb.PlaybackEvent]:
        """Events not yet cut into a batch (read-only view for tests and diagnostics)."""
        return list(self._buf)

    @property
    def buffered_subscriptions(self) -> list[sub_pb.SubscriptionEvent]:
        """Subscription events not yet sent."""
        return list(self._subs)

    @property
    def backlog(self) -> int:
        """Events buffered or sent but not yet acknowledged."""
        return len(self._buf) + self.batch_events * (len(self._to_send) + len(self._unacked))

    def idle(self) -> bool:
        """Nothing left to send or to be acknowledged."""
        return not (self._buf or self._to_send or self._unacked or self._subs)

    async def wait_backlog_below(self, events: int) -> None:
        """Block while the backlog is at least ``events`` (backpressure for the fleet)."""
        while self.backlog >= events and not self._closing:
            self._acked.clear()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), 0.5)

    # -- the shipping loops --------------------------------------------------------------------

    def _cut(self) -> None:
        if not self._buf:
            return
        n = self.batch_events
        self._seq += 1
        batch = api.EventBatch(batch_id=f"b{self._seq}", events=self._buf[:n])
        self._to_send.append(_Batch(batch, self._buf_kinds[:n]))
        del self._buf[:n], self._buf_kinds[:n]
        if self._buf:
            self._buf_since = time.monotonic()

    async def _writer(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            full = len(self._buf) >= self.batch_events
            lingered = self._buf and time.monotonic() - self._buf_since >= self.linger_s
            if not self._to_send and (full or lingered or (self._closing and self._buf)):
                self._cut()
            if self._to_send and len(self._unacked) < self.max_in_flight:
                batch = self._to_send.popleft()
                self._unacked.append(batch)
                await call.write(batch.message)
                continue
            if self._closing and not self._buf and not self._to_send and not self._unacked:
                await call.done_writing()
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.linger_s)

    async def _reader(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            ack = await call.read()
            if ack is grpc.aio.EOF:
                return
            batch = self._unacked.popleft()
            if ack.batch_id != batch.message.batch_id:
                log.error("ack out of order", extra={"want": batch.message.batch_id})
            self._account(batch.kinds, ack)
            self._acked.set()
            self._wake.set()

    def _account(self, kinds: list[str], ack: api.BatchAck) -> None:
        counts = Counter(kinds)
        for r in ack.rejections:
            counts[kinds[r.index]] -= 1
            self.rejected[r.code] += 1
            metrics.EVENTS_REJECTED.labels(r.code).inc()
            if sum(self.rejected.values()) <= 5:
                log.warning(
                    "event rejected", extra={"field": r.field, "code": r.code, "reason": r.reason}
                )
        for kind, n in counts.items():
            if n:
                self.sent[kind] += n
                metrics.EVENTS_SENT.labels(kind).inc(n)
        metrics.BACKLOG.set(self.backlog)

    async def run_stream(self) -> None:
        """Keep a stream open and ship everything; returns once closed and drained."""
        backoff = 0.2
        while not (self._closing and not (self._buf or self._to_send or self._unacked)):
            # Re-send whatever was in flight on the failed stream, in the original order.
            while self._unacked:
                self._to_send.appendleft(self._unacked.pop())
            call = self.stub.StreamEvents()
            writer = asyncio.ensure_future(self._writer(call))
            reader = asyncio.ensure_future(self._reader(call))
            try:
                done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()
                await reader
                await writer
                backoff = 0.2
            except Exception as exc:  # any stream failure: back off, reconnect, re-send
                code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "CLIENT"
                metrics.RPC_ERRORS.labels("telemetry", code).inc()
                self.stream_failures += 1
                log.warning("telemetry stream failed; re-sending", extra={"code": code})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                for task in (writer, reader):
                    task.cancel()
                call.cancel()
                await asyncio.gather(writer, reader, return_exceptions=True)

    async def run_subscriptions(self) -> None:
        """Send subscription events every 200 ms; failed batches are kept and retried."""
        backoff = 0.2
        while not (self._closing and not self._subs):
            if not self._subs:
                await asyncio.sleep(0.2)
                continue
            events, self._subs = self._subs, []
            try:
                ack = await self.stub.IngestSubscriptions(
                    api.SubscriptionBatch(batch_id=f"s{self._seq}", events=events),
                    timeout=self.rpc_timeout_s,
                )
                self._account(["subscription"] * len(events), ack)
                backoff = 0.2
            except grpc.aio.AioRpcError as exc:
                metrics.RPC_ERRORS.labels("telemetry", exc.code().name).inc()
                self._subs[:0] = events
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self, tasks: list[asyncio.Task[None]], timeout_s: float) -> int:
        """Flush, finish the stream and return how many events were left unsent."""
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout_s)
        except TimeoutError:
            log.warning("telemetry did not take everything before the deadline")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        left = len(self._buf) + len(self._subs)
        left += sum(len(b.kinds) for b in (*self._to_send, *self._unacked))
        return left
