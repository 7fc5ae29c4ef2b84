"""Builds the playback and subscription events a player and billing would send.

Ids are unique per run (a random run tag plus a counter), so a re-sent batch
carries the same event ids and downstream deduplication works.

>>> from reelstream.common.v1 import types_pb2 as types
>>> f = EventFactory("r1")
>>> client = f.client("u1", types.DEVICE_TYPE_TV, "NO", types.NETWORK_TYPE_WIFI)
>>> ev = f.playback("u1", "s1", "t1", 1_700_000_000.0, client, "pause", position_s=12.0)
>>> ev.WhichOneof("kind"), ev.event_time_ms, ev.pause.position_s
('pause', 1700000000000, 12.0)
"""

from __future__ import annotations

import itertools
from typing import Any

from reelstream.playback.v1 import events_pb2 as pb
from reelstream.subscription.v1 import events_pb2 as sub_pb

_KINDS: dict[str, Any] = {
    "session_start": pb.SessionStart,
    "heartbeat": pb.Heartbeat,
    "chunk_downloaded": pb.ChunkDownloaded,
    "play": pb.Play,
    "pause": pb.Pause,
    "resume": pb.Resume,
    "seek": pb.Seek,
    "skip": pb.Skip,
    "stop": pb.Stop,
    "complete": pb.Complete,
    "rating": pb.Rating,
    "impression": pb.Impression,
    "click": pb.Click,
}
APP_VERSION = "sim-1.0"


class EventFactory:
    """Envelope filling: ids, times in epoch ms, client info."""

    def __init__(self, run_tag: str) -> None:
        self.run_tag = run_tag
        self._ids = itertools.count()

    def new_id(self, prefix: str = "") -> str:
        """A run-unique id."""
        return f"{prefix}{self.run_tag}-{next(self._ids):x}"

    def client(self, user_id: str, device: int, region: str, network: int) -> pb.ClientInfo:
        """The (stable) client description of a viewer's device."""
        return pb.ClientInfo(
            device_type=device,  # type: ignore[arg-type]
            app_version=APP_VERSION,
            region=region,
            network_type=network,  # type: ignore[arg-type]
            device_id=f"{user_id}-d0",
        )

    def playback(
        self,
        user_id: str,
        session_id: str,
        title_id: str,
        t_s: float,
        client: pb.ClientInfo,
        kind: str,
        **fields: Any,
    ) -> pb.PlaybackEvent:
        """One event of ``kind`` (a field name of the ``kind`` oneof) with its payload fields."""
        payload = {kind: _KINDS[kind](**fields)}
        return pb.PlaybackEvent(
            event_id=f"{self.run_tag}-{next(self._ids):x}",
            user_id=user_id,
            session_id=session_id,
            title_id=title_id,
            event_time_ms=int(t_s * 1000),
            client=client,
            **payload,
        )

    def subscription(
        self, user_id: str, t_s: float, region: str, kind: str, **fields: Any
    ) -> sub_pb.SubscriptionEvent:
        """A signup, plan_change or cancel event."""
        ev = sub_pb.SubscriptionEvent(
            event_id=self.new_id("sub-"),
            user_id=user_id,
            event_time_ms=int(t_s * 1000),
            region=region,
        )
        payload = {
            "signup": sub_pb.Signup,
            "plan_change": sub_pb.PlanChange,
            "cancel": sub_pb.Cancel,
        }[kind]
        getattr(ev, kind).CopyFrom(payload(**fields))
        return ev
