"""Valid events for tests, with one keyword to change any field."""

from __future__ import annotations

import itertools
import time
from typing import Any

from reelstream.common.v1 import types_pb2
from reelstream.playback.v1 import events_pb2 as pb

_ids = itertools.count()


def now_ms() -> int:
    """Wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


def chunk(user: str = "u1", title: str = "t1", **kw: Any) -> pb.PlaybackEvent:
    """A valid chunk-downloaded event."""
    n = next(_ids)
    return pb.PlaybackEvent(
        event_id=kw.pop("event_id", f"e{n}-{uuid_tag()}"),
        user_id=user,
        session_id=kw.pop("session_id", f"s-{user}"),
        title_id=title,
        event_time_ms=kw.pop("event_time_ms", now_ms()),
        client=pb.ClientInfo(
            device_type=types_pb2.DEVICE_TYPE_TV,
            region="NO",
            network_type=types_pb2.NETWORK_TYPE_WIFI,
            app_version="1.0.0",
        ),
        chunk_downloaded=pb.ChunkDownloaded(
            chunk_index=n % 48,
            bitrate_kbps=1850,
            rung=3,
            bytes=925_000,
            download_ms=830.5,
            buffer_after_s=12.0,
            rebuffer_ms=0.0,
            rtt_ms=80.0,
        ),
        **kw,
    )


def complete(user: str = "u1", title: str = "t1", **kw: Any) -> pb.PlaybackEvent:
    """A valid complete event."""
    n = next(_ids)
    return pb.PlaybackEvent(
        event_id=kw.pop("event_id", f"c{n}-{uuid_tag()}"),
        user_id=user,
        session_id=kw.pop("session_id", f"s-{user}-{title}"),
        title_id=title,
        event_time_ms=kw.pop("event_time_ms", now_ms()),
        complete=pb.Complete(position_s=3000.0, duration_s=3000.0),
        **kw,
    )


_tag = f"{int(time.time() * 1000) % 10**9:x}"


def uuid_tag() -> str:
    """A short tag unique to this test process (ids differ across runs)."""
    return _tag
