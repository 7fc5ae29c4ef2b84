"""A small synthetic player stream for the early stack: random sessions sent to telemetry.

Replaced by the player-fleet simulator once the model services exist; kept as the
simplest client of the ingest API (``StreamEvents``), at a steady target rate.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator

import grpc

from reelstream.common.v1 import types_pb2
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.telemetry.v1 import telemetry_pb2 as api
from reelstream.telemetry.v1 import telemetry_pb2_grpc as api_grpc


def synthetic_event(rng: random.Random, users: int, titles: int) -> pb.PlaybackEvent:
    """One plausible event of a random user: mostly chunks and heartbeats, some plays."""
    user = f"user-{rng.randrange(users)}"
    title = f"title-{rng.randrange(titles)}"
    ev = pb.PlaybackEvent(
        event_id=uuid.uuid4().hex,
        user_id=user,
        session_id=f"{user}-{title}",
        title_id=title,
        event_time_ms=int(time.time() * 1000),
        client=pb.ClientInfo(
            device_type=types_pb2.DEVICE_TYPE_TV,
            region="NO",
            network_type=types_pb2.NETWORK_TYPE_WIFI,
            app_version="1.0",
        ),
    )
    r = rng.random()
    if r < 0.6:
        rung = rng.randrange(6)
        kbps = (300, 750, 1200, 1850, 2850, 4300)[rung]
        ev.chunk_downloaded.CopyFrom(
            pb.ChunkDownloaded(
                chunk_index=rng.randrange(48),
                bitrate_kbps=kbps,
                rung=rung,
                bytes=kbps * 500,
                download_ms=rng.uniform(200, 4000),
                buffer_after_s=rng.uniform(0, 60),
                rtt_ms=80,
            )
        )
    elif r < 0.85:
        ev.heartbeat.CopyFrom(
            pb.Heartbeat(position_s=rng.uniform(0, 3000), buffer_s=rng.uniform(0, 60))
        )
    elif r < 0.95:
        ev.play.CopyFrom(pb.Play(position_s=0.0))
    else:
        ev.complete.CopyFrom(pb.Complete(position_s=3000.0, duration_s=3000.0))
    return ev


async def feed(
    port: int, rate: float, stop: asyncio.Event, users: int = 500, titles: int = 200
) -> None:
    """Stream batches to telemetry at about ``rate`` events/s until ``stop``."""
    rng = random.Random(7)
    batch = max(1, int(rate / 10))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = api_grpc.TelemetryServiceStub(ch)

        async def batches() -> AsyncIterator[api.EventBatch]:
            while not stop.is_set():
                yield api.EventBatch(
                    batch_id=uuid.uuid4().hex[:8],
                    events=[synthetic_event(rng, users, titles) for _ in range(batch)],
                )
                await asyncio.sleep(0.1)

        async for _ack in stub.StreamEvents(batches()):
            pass
