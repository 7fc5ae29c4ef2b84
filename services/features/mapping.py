"""Protobuf records → :class:`EngagementEvent` (pure functions; the faust agent calls them).

Watched time is taken from the positions players report when a play ends
(stop, skip, complete: ``position_s``, i.e. time into the title); heartbeats carry
no increment of their own in the contract, so they count as activity only. A
resumed title therefore counts from the start of the title: a stated
over-estimate that keeps the mapping stateless.

>>> from reelstream.playback.v1 import events_pb2 as pb
>>> ev = pb.PlaybackEvent(event_id="e", user_id="u", title_id="t", event_time_ms=86_400_000,
...                       stop=pb.Stop(position_s=600, duration_s=3000))
>>> e = playback_event(ev, lambda title: ("drama",))
>>> (e.kind.value, e.watched_s, e.genres, e.day)
('stop', 600.0, ('drama',), 1)
"""

from __future__ import annotations

from collections.abc import Callable

from reelstream.common.v1 import types_pb2
from reelstream.platform.consumer import BadRecord
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.subscription.v1 import events_pb2 as sub_pb
from services.features.events import EngagementEvent, EventKind

CHUNK_S = 4.0
_DEVICE = {v: k.removeprefix("DEVICE_TYPE_").lower() for k, v in types_pb2.DeviceType.items()}
_PLAN = {v: k.removeprefix("PLAN_").lower() for k, v in sub_pb.Plan.items()}


def playback_event(
    ev: pb.PlaybackEvent, genres_of: Callable[[str], tuple[str, ...]]
) -> EngagementEvent | None:
    """The engagement view of a playback event (None for kinds engagement ignores)."""
    kind = ev.WhichOneof("kind")
    base = EngagementEvent(
        ev.user_id,
        ev.event_id,
        ev.event_time_ms / 1000.0,
        EventKind.PLAY,
        title_id=ev.title_id,
        genres=genres_of(ev.title_id) if ev.title_id else (),
        device=_DEVICE.get(ev.client.device_type, ""),
    )
    if kind == "session_start":
        base.kind = EventKind.SESSION_START
        base.from_recommendation = bool(ev.session_start.source_row_id)
    elif kind == "play":
        base.from_recommendation = bool(ev.play.source_row_id)
    elif kind in ("stop", "complete", "skip"):
        sub = getattr(ev, kind)
        base.kind = EventKind(kind)
        base.position_s, base.duration_s, base.watched_s = (
            sub.position_s,
            sub.duration_s,
            sub.position_s,
        )
    elif kind == "chunk_downloaded":
        c = ev.chunk_downloaded
        base.kind = EventKind.CHUNK
        base.duration_s, base.bitrate_kbps = CHUNK_S, float(c.bitrate_kbps)
        base.rebuffer_ms, base.download_ms = c.rebuffer_ms, c.download_ms
    elif kind == "heartbeat":
        base.kind = EventKind.HEARTBEAT
    elif kind == "rating":
        base.kind, base.rating = EventKind.RATING, float(ev.rating.value)
    elif kind == "impression":
        base.kind = EventKind.IMPRESSION
    elif kind == "click":
        base.kind = EventKind.CLICK
    else:
        return None  # pause, resume, seek: no engagement feature uses them
    return base


def subscription_event(ev: sub_pb.SubscriptionEvent) -> EngagementEvent:
    """The engagement view of a subscription lifecycle event."""
    kind = ev.WhichOneof("kind")
    out = EngagementEvent(ev.user_id, ev.event_id, ev.event_time_ms / 1000.0, EventKind.SIGNUP)
    if kind == "signup":
        out.plan = _PLAN.get(ev.signup.plan, "")
    elif kind == "plan_change":
        out.kind, out.plan = EventKind.PLAN_CHANGE, _PLAN.get(ev.plan_change.to_plan, "")
    elif kind == "cancel":
        out.kind = EventKind.CANCEL
    else:
        raise BadRecord("subscription event without a kind", "kind", "REQUIRED")
    return out


def decode(
    topic: str, value: bytes | None, genres_of: Callable[[str], tuple[str, ...]]
) -> EngagementEvent | None:
    """Decode a record from the playback or subscription topic; BadRecord if unusable."""
    try:
        if topic.endswith("subscription.v1"):
            sub = sub_pb.SubscriptionEvent.FromString(value or b"")
            if not sub.user_id:
                raise BadRecord("subscription event without user_id", "user_id", "REQUIRED")
            return subscription_event(sub)
        ev = pb.PlaybackEvent.FromString(value or b"")
    except BadRecord:
        raise
    except Exception as exc:
        raise BadRecord(f"undecodable record on {topic}: {exc}", code="UNDECODABLE") from exc
    if not ev.user_id or ev.event_time_ms <= 0:
        raise BadRecord("playback event without user_id or event_time_ms", "user_id", "REQUIRED")
    return playback_event(ev, genres_of)
