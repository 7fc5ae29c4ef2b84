"""Semantic validation of playback and subscription events, one plain function per event.

gRPC has already checked the wire format; this checks meaning: required
fields, enum values the contract knows, ranges, timestamps that are neither
absurdly in the future nor too old, sizes. A problem is reported as a
:class:`Problem` naming the field path, a machine-readable code and a reason a
player developer can act on. It runs on the ingest hot path (~100k events/s),
so it is written as straight-line attribute checks with no allocation on the
happy path.

>>> from reelstream.playback.v1 import events_pb2 as pb
>>> limits = Limits()
>>> ev = pb.PlaybackEvent(event_id="e1", user_id="u1", session_id="s1", title_id="t1",
...                       event_time_ms=1_700_000_000_000, rating=pb.Rating(value=9))
>>> validate_playback(ev, 1_700_000_000_000, limits)
Problem(field='rating.value', code='OUT_OF_RANGE', reason='rating must be within [0.5, 5], got 9.0')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from reelstream.common.v1 import types_pb2
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.subscription.v1 import events_pb2 as sub_pb

_DEVICE_TYPES = frozenset(types_pb2.DeviceType.values())
_NETWORK_TYPES = frozenset(types_pb2.NetworkType.values())
_PLANS = frozenset(v for v in sub_pb.Plan.values() if v != sub_pb.PLAN_UNSPECIFIED)
# Kinds that belong to a playback session of one title.
_SESSION_KINDS = frozenset(
    {
        "session_start", "heartbeat", "chunk_downloaded", "play", "pause", "resume", "seek",
        "skip", "stop", "complete",
    }
)  # fmt: skip
_TITLE_KINDS = _SESSION_KINDS | {"rating", "click"}


class Problem(NamedTuple):
    """Why an event was rejected: field path, code, human reason."""

    field: str
    code: str
    reason: str


@dataclass(frozen=True)
class Limits:
    """Bounds on what a sane client sends (constructor parameters are the configuration)."""

    max_id_len: int = 128
    max_future_ms: int = 5 * 60_000
    max_past_ms: int = 30 * 86_400_000
    max_event_bytes: int = 16_384
    max_impression_titles: int = 200
    max_duration_s: float = 86_400.0
    max_buffer_s: float = 600.0
    max_bitrate_kbps: int = 200_000
    max_chunk_bytes: int = 1_000_000_000
    max_download_ms: float = 600_000.0
    max_rung: int = 31


def _bad_number(x: float, lo: float, hi: float) -> bool:
    return not (lo <= x <= hi) or math.isnan(x)


def _range(field: str, x: float, lo: float, hi: float) -> Problem:
    return Problem(
        field,
        "OUT_OF_RANGE",
        f"{field.rsplit('.', 1)[-1]} must be within [{lo:g}, {hi:g}], got {x:g}",
    )


def _check_id(value: str, field: str, limits: Limits, required: bool = True) -> Problem | None:
    if not value:
        return Problem(field, "REQUIRED", f"{field} is required") if required else None
    if len(value) > limits.max_id_len:
        return Problem(field, "TOO_LONG", f"{field} longer than {limits.max_id_len} characters")
    return None


def _check_time(t: int, now_ms: int, limits: Limits, field: str) -> Problem | None:
    if t <= 0:
        return Problem(field, "REQUIRED", f"{field} is required (epoch milliseconds)")
    if t > now_ms + limits.max_future_ms:
        return Problem(
            field, "TOO_FAR_IN_FUTURE", f"{field} is {(t - now_ms) / 1000:.0f} s in the future"
        )
    if t < now_ms - limits.max_past_ms:
        return Problem(field, "TOO_OLD", f"{field} is {(now_ms - t) / 86_400_000:.1f} days old")
    return None


def _position(field: str, pos: float, dur: float, limits: Limits) -> Problem | None:
    if _bad_number(dur, 1e-3, limits.max_duration_s):
        return _range(field + ".duration_s", dur, 1e-3, limits.max_duration_s)
    if _bad_number(pos, 0.0, dur * 1.01 + 1.0):
        return _range(field + ".position_s", pos, 0.0, dur * 1.01 + 1.0)
    return None


def _check_kind(ev: pb.PlaybackEvent, kind: str, limits: Limits) -> Problem | None:
    """Per-kind field checks; None when the payload is fine."""
    if kind == "chunk_downloaded":
        c = ev.chunk_downloaded
        if _bad_number(c.chunk_index, 0, 1_000_000):
            return _range("chunk_downloaded.chunk_index", c.chunk_index, 0, 1_000_000)
        if _bad_number(c.bitrate_kbps, 1, limits.max_bitrate_kbps):
            return _range(
                "chunk_downloaded.bitrate_kbps", c.bitrate_kbps, 1, limits.max_bitrate_kbps
            )
        if _bad_number(c.rung, 0, limits.max_rung):
            return _range("chunk_downloaded.rung", c.rung, 0, limits.max_rung)
        if _bad_number(c.bytes, 1, limits.max_chunk_bytes):
            return _range("chunk_downloaded.bytes", c.bytes, 1, limits.max_chunk_bytes)
        if _bad_number(c.download_ms, 0.0, limits.max_download_ms):
            return _range(
                "chunk_downloaded.download_ms", c.download_ms, 0.0, limits.max_download_ms
            )
        if _bad_number(c.buffer_after_s, 0.0, limits.max_buffer_s):
            return _range(
                "chunk_downloaded.buffer_after_s", c.buffer_after_s, 0.0, limits.max_buffer_s
            )
        if _bad_number(c.rebuffer_ms, 0.0, limits.max_download_ms):
            return _range(
                "chunk_downloaded.rebuffer_ms", c.rebuffer_ms, 0.0, limits.max_download_ms
            )
        if _bad_number(c.rtt_ms, 0.0, 60_000.0):
            return _range("chunk_downloaded.rtt_ms", c.rtt_ms, 0.0, 60_000.0)
        return None
    if kind == "heartbeat":
        h = ev.heartbeat
        if _bad_number(h.position_s, 0.0, limits.max_duration_s):
            return _range("heartbeat.position_s", h.position_s, 0.0, limits.max_duration_s)
        if _bad_number(h.buffer_s, 0.0, limits.max_buffer_s):
            return _range("heartbeat.buffer_s", h.buffer_s, 0.0, limits.max_buffer_s)
        if _bad_number(h.bitrate_kbps, 0, limits.max_bitrate_kbps):
            return _range("heartbeat.bitrate_kbps", h.bitrate_kbps, 0, limits.max_bitrate_kbps)
        if _bad_number(h.throughput_kbps, 0.0, 10_000_000.0):
            return _range("heartbeat.throughput_kbps", h.throughput_kbps, 0.0, 10_000_000.0)
        return None
    if kind == "complete":
        return _position("complete", ev.complete.position_s, ev.complete.duration_s, limits)
    if kind == "skip":
        return _position("skip", ev.skip.position_s, ev.skip.duration_s, limits)
    if kind == "stop":
        return _position("stop", ev.stop.position_s, ev.stop.duration_s, limits)
    if kind == "rating":
        v = ev.rating.value
        if _bad_number(v, 0.5, 5.0):
            return Problem(
                "rating.value", "OUT_OF_RANGE", f"rating must be within [0.5, 5], got {v:g}"
            )
        return None
    if kind == "impression":
        imp = ev.impression
        n = len(imp.title_ids)
        if n == 0:
            return Problem(
                "impression.title_ids", "REQUIRED", "an impression lists at least one title"
            )
        if n > limits.max_impression_titles:
            return Problem(
                "impression.title_ids",
                "TOO_MANY",
                f"more than {limits.max_impression_titles} titles",
            )
        if len(imp.positions) not in (0, n):
            return Problem(
                "impression.positions",
                "LENGTH_MISMATCH",
                "positions must match title_ids one to one",
            )
        if not imp.row_id:
            return Problem("impression.row_id", "REQUIRED", "impression.row_id is required")
        return None
    if kind == "click":
        if not ev.click.row_id:
            return Problem("click.row_id", "REQUIRED", "click.row_id is required")
        if ev.click.position < 0:
            return _range("click.position", ev.click.position, 0, 10_000)
        return None
    if kind == "seek":
        s = ev.seek
        if _bad_number(s.from_s, 0.0, limits.max_duration_s):
            return _range("seek.from_s", s.from_s, 0.0, limits.max_duration_s)
        if _bad_number(s.to_s, 0.0, limits.max_duration_s):
            return _range("seek.to_s", s.to_s, 0.0, limits.max_duration_s)
        return None
    if kind == "session_start":
        st = ev.session_start
        if _bad_number(st.title_duration_s, 0.0, limits.max_duration_s):
            return _range(
                "session_start.title_duration_s", st.title_duration_s, 0.0, limits.max_duration_s
            )
        if _bad_number(st.start_position_s, 0.0, limits.max_duration_s):
            return _range(
                "session_start.start_position_s", st.start_position_s, 0.0, limits.max_duration_s
            )
        return None
    pos = getattr(ev, kind).position_s  # play, pause, resume
    if _bad_number(pos, 0.0, limits.max_duration_s):
        return _range(f"{kind}.position_s", pos, 0.0, limits.max_duration_s)
    return None


def validate_playback(ev: pb.PlaybackEvent, now_ms: int, limits: Limits) -> Problem | None:
    """Return the first problem with ``ev``, or None if it may be ingested."""
    return validate_playback_kind(ev, ev.WhichOneof("kind"), now_ms, limits)


def validate_playback_kind(
    ev: pb.PlaybackEvent, kind: str | None, now_ms: int, limits: Limits
) -> Problem | None:
    """:func:`validate_playback` for a caller that already asked ``WhichOneof`` (hot path)."""
    if kind is None:
        return Problem("kind", "REQUIRED", "event has no kind (set one field of the oneof)")
    problem = (
        _check_id(ev.event_id, "event_id", limits)
        or _check_id(ev.user_id, "user_id", limits)
        or _check_id(ev.session_id, "session_id", limits, kind in _SESSION_KINDS)
        or _check_id(ev.title_id, "title_id", limits, kind in _TITLE_KINDS)
        or _check_id(ev.profile_id, "profile_id", limits, False)
        or _check_time(ev.event_time_ms, now_ms, limits, "event_time_ms")
    )
    if problem is not None:
        return problem
    if ev.HasField("client"):
        c = ev.client
        if c.device_type not in _DEVICE_TYPES:
            return Problem("client.device_type", "BAD_ENUM", f"unknown device_type {c.device_type}")
        if c.network_type not in _NETWORK_TYPES:
            return Problem(
                "client.network_type", "BAD_ENUM", f"unknown network_type {c.network_type}"
            )
        if c.region and not (len(c.region) == 2 and c.region.isalpha() and c.region.isupper()):
            return Problem(
                "client.region",
                "BAD_FORMAT",
                f"region must be ISO 3166-1 alpha-2, got {c.region!r}",
            )
    return _check_kind(ev, kind, limits)


def validate_subscription(
    ev: sub_pb.SubscriptionEvent, now_ms: int, limits: Limits
) -> Problem | None:
    """Return the first problem with a subscription event, or None."""
    kind = ev.WhichOneof("kind")
    if kind is None:
        return Problem("kind", "REQUIRED", "event has no kind (signup, plan_change or cancel)")
    problem = (
        _check_id(ev.event_id, "event_id", limits)
        or _check_id(ev.user_id, "user_id", limits)
        or _check_time(ev.event_time_ms, now_ms, limits, "event_time_ms")
    )
    if problem is not None:
        return problem
    if kind == "signup" and ev.signup.plan not in _PLANS:
        return Problem("signup.plan", "BAD_ENUM", f"unknown or missing plan {ev.signup.plan}")
    if kind == "plan_change" and ev.plan_change.to_plan not in _PLANS:
        return Problem(
            "plan_change.to_plan", "BAD_ENUM", f"unknown or missing plan {ev.plan_change.to_plan}"
        )
    return None
