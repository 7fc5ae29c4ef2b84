"""Decode Kafka records into what the recommender learns from (pure functions, no broker).

>>> from reelstream.playback.v1 import events_pb2 as pb
>>> ev = pb.PlaybackEvent(user_id="u", title_id="t", event_time_ms=5000,
...                       complete=pb.Complete(position_s=90, duration_s=100))
>>> [(f.kind, f.progress) for f in feedback_of(ev)]
[('complete', 0.9)]
"""

from __future__ import annotations

from reelstream.catalog.v1 import catalog_pb2
from reelstream.common.v1 import types_pb2
from reelstream.platform.consumer import BadRecord
from reelstream.playback.v1 import events_pb2 as pb
from services.recommendation.model import Feedback

_DEVICE = {v: k.removeprefix("DEVICE_TYPE_").lower() for k, v in types_pb2.DeviceType.items()}
_DEVICE[types_pb2.DEVICE_TYPE_UNSPECIFIED] = ""


def device_name(device_type: int) -> str:
    """``DEVICE_TYPE_TV`` -> ``"tv"`` (segment names used by trending)."""
    return _DEVICE.get(types_pb2.DeviceType.ValueType(device_type), "")


def _progress(position_s: float, duration_s: float) -> float:
    return min(1.0, max(0.0, position_s / duration_s)) if duration_s > 0 else 0.0


def feedback_of(ev: pb.PlaybackEvent) -> list[Feedback]:
    """The feedback one playback event carries (empty for pure playback telemetry)."""
    kind = ev.WhichOneof("kind")
    ts = ev.event_time_ms / 1000.0
    region = ev.client.region
    device = device_name(ev.client.device_type)

    def fb(k: str, progress: float = 0.0, rating: float | None = None, item: str = "") -> Feedback:
        return Feedback(ev.user_id, item or ev.title_id, k, ts, progress, rating, region, device)  # type: ignore[arg-type]

    if kind == "complete":
        return [fb("complete", _progress(ev.complete.position_s, ev.complete.duration_s))]
    if kind == "stop":
        return [fb("stop", _progress(ev.stop.position_s, ev.stop.duration_s))]
    if kind == "skip":
        return [fb("skip", _progress(ev.skip.position_s, ev.skip.duration_s))]
    if kind == "rating":
        return [fb("rating", rating=float(ev.rating.value))]
    if kind == "play":
        return [fb("play")]
    if kind == "click":
        return [fb("click")]
    if kind == "impression":
        return [fb("impression", item=t) for t in ev.impression.title_ids]
    return []


def decode_playback(data: bytes | None) -> pb.PlaybackEvent:
    """Parse a playback record; a record that is not one is a BadRecord (dead letter)."""
    try:
        ev = pb.PlaybackEvent.FromString(data or b"")
    except Exception as exc:
        raise BadRecord(f"not a PlaybackEvent: {exc}", code="UNDECODABLE") from exc
    if not ev.user_id:
        raise BadRecord("playback event without user_id", "user_id", "REQUIRED")
    return ev


def decode_title(data: bytes | None) -> catalog_pb2.Title:
    """Parse a catalog record."""
    try:
        title = catalog_pb2.Title.FromString(data or b"")
    except Exception as exc:
        raise BadRecord(f"not a catalog Title: {exc}", code="UNDECODABLE") from exc
    if not title.title_id:
        raise BadRecord("title without title_id", "title_id", "REQUIRED")
    return title
