"""The telemetry sink over a real gRPC socket: windowed stream, in-order acks, re-send after failure.

The server here is a stand-in for telemetry that fails on purpose (the first
stream breaks after two batches, the first subscription call is UNAVAILABLE),
so the sink's own retry logic is what is tested.
"""

import asyncio
from collections.abc import AsyncIterator

import grpc

from reelstream.telemetry.v1 import telemetry_pb2 as api
from reelstream.telemetry.v1 import telemetry_pb2_grpc as api_grpc
from services.simulator.events import EventFactory
from services.simulator.sink import TelemetrySink


class FlakyTelemetry(api_grpc.TelemetryServiceServicer):
    def __init__(self) -> None:
        self.received: list[str] = []
        self.streams = 0
        self.sub_calls = 0
        self.subs: list[str] = []
        self.max_batch = 0

    async def StreamEvents(
        self, request_iterator: AsyncIterator[api.EventBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.BatchAck]:
        self.streams += 1
        n = 0
        async for batch in request_iterator:
            n += 1
            if self.streams == 1 and n == 3:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "Kafka away")
            self.max_batch = max(self.max_batch, len(batch.events))
            self.received.extend(e.event_id for e in batch.events)
            rejections = [
                api.Rejection(index=i, event_id=e.event_id, code="OUT_OF_RANGE")
                for i, e in enumerate(batch.events)
                if e.pause.position_s < 0
            ]
            yield api.BatchAck(
                batch_id=batch.batch_id,
                accepted=len(batch.events) - len(rejections),
                rejections=rejections,
            )

    async def IngestBatch(
        self, request: api.EventBatch, context: grpc.aio.ServicerContext
    ) -> api.BatchAck:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the fleet streams")
        raise AssertionError  # unreachable

    async def IngestSubscriptions(
        self, request: api.SubscriptionBatch, context: grpc.aio.ServicerContext
    ) -> api.BatchAck:
        self.sub_calls += 1
        if self.sub_calls == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not yet")
        self.subs.extend(e.event_id for e in request.events)
        return api.BatchAck(batch_id=request.batch_id, accepted=len(request.events))


async def test_stream_resends_unacknowledged_batches_in_order():
    server = grpc.aio.server()
    fake = FlakyTelemetry()
    api_grpc.add_TelemetryServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    f = EventFactory("t")
    client = f.client("u1", 1, "NO", 1)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            sink = TelemetrySink(
                api_grpc.TelemetryServiceStub(ch), batch_events=10, max_in_flight=4
            )
            tasks = [
                asyncio.ensure_future(sink.run_stream()),
                asyncio.ensure_future(sink.run_subscriptions()),
            ]
            ids = []
            for i in range(105):
                pos = -1.0 if i == 50 else float(i)  # one event the server rejects
                ev = f.playback("u1", "s1", "t1", 1.7e9 + i, client, "pause", position_s=pos)
                ids.append(ev.event_id)
                sink.emit(ev, "pause")
                if i % 25 == 0:
                    await asyncio.sleep(0.01)
            sub = f.subscription("u1", 1.7e9, "NO", "cancel", reason="x")
            sink.emit_subscription(sub)
            left = await sink.close(tasks, timeout_s=10.0)
    finally:
        await server.stop(None)
    assert left == 0
    assert fake.streams == 2 and sink.stream_failures == 1
    assert fake.max_batch <= 10
    # Every event arrived, in the order emitted (nothing was acked twice on the good stream).
    assert fake.received == ids
    assert sink.sent["pause"] == 104 and sink.rejected["OUT_OF_RANGE"] == 1
    assert fake.subs == [sub.event_id] and sink.sent["subscription"] == 1
