"""Thin gRPC servicer: maps the Ingestor's outcomes to acks and status codes.

- every event good or bad is accounted for in the ack (accepted count, and per
  rejected event its index, field, code and reason);
- a batch that is itself unacceptable (too many events) fails INVALID_ARGUMENT;
- if Kafka does not confirm a batch within the bounded wait, the RPC fails
  UNAVAILABLE and nothing in that batch is acknowledged (the client retries it).
On the stream, batches are pipelined (up to ``max_in_flight`` awaiting Kafka)
and acked strictly in the order they arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from reelstream.platform.producer import DeliveryError
from reelstream.telemetry.v1 import telemetry_pb2 as api
from reelstream.telemetry.v1 import telemetry_pb2_grpc as api_grpc
from services.telemetry.ingest import BatchTooLarge, Ingestor, IngestResult


def _ack(batch_id: str, result: IngestResult) -> api.BatchAck:
    return api.BatchAck(batch_id=batch_id, accepted=result.accepted, rejections=result.rejections)


class TelemetryServicer(api_grpc.TelemetryServiceServicer):
    """IngestBatch, StreamEvents and IngestSubscriptions over one Ingestor."""

    def __init__(self, ingestor: Ingestor, max_in_flight: int = 32) -> None:
        self.ingestor = ingestor
        self.max_in_flight = max_in_flight

    async def _abort(self, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        if isinstance(exc, BatchTooLarge):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"Kafka did not confirm the batch ({exc}); nothing in it is acknowledged, retry it",
        )

    async def IngestBatch(
        self, request: api.EventBatch, context: grpc.aio.ServicerContext
    ) -> api.BatchAck:
        try:
            result = await self.ingestor.ingest_playback(request.events)
        except (BatchTooLarge, DeliveryError) as exc:
            await self._abort(context, exc)
            raise  # unreachable: abort raises
        return _ack(request.batch_id, result)

    async def IngestSubscriptions(
        self, request: api.SubscriptionBatch, context: grpc.aio.ServicerContext
    ) -> api.BatchAck:
        try:
            result = await self.ingestor.ingest_subscriptions(request.events)
        except (BatchTooLarge, DeliveryError) as exc:
            await self._abort(context, exc)
            raise
        return _ack(request.batch_id, result)

    async def StreamEvents(
        self, request_iterator: AsyncIterator[api.EventBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.BatchAck]:
        queue: asyncio.Queue[tuple[str, asyncio.Task[IngestResult]] | None] = asyncio.Queue(
            self.max_in_flight
        )

        async def read() -> None:
            try:
                async for batch in request_iterator:
                    task = asyncio.ensure_future(self.ingestor.ingest_playback(batch.events))
                    await queue.put((batch.batch_id, task))
            finally:
                await queue.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (item := await queue.get()) is not None:
                batch_id, task = item
                try:
                    result = await task
                except (BatchTooLarge, DeliveryError) as exc:
                    await self._abort(context, exc)
                    raise
                yield _ack(batch_id, result)
            await reader  # surface a reader error (client cancelled, bad frame)
        finally:
            reader.cancel()
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    item[1].cancel()
