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
Problem(field='rating.value', code='OUT_OF_RANGE', reason='rating.value must be within [0.5, 5], got 9')
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
        "session_start",
        "heartbeat",
        "chunk_downloaded",
        "play",
        "pause",
        "resume",
        "seek",
        "skip",
        "stop",
        "complete",
    }
)
_TITLE_KINDS = _SESSION_KINDS | {"rating", "click"}
_SHAPED = frozenset({"skip", "stop", "complete", "impression", "click", "chunk_downloaded"})


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
    rules: dict[str, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", range_rules(self))


def _range(field: str, x: float, lo: float, hi: float) -> Problem:
    return Problem(field, "OUT_OF_RANGE", f"{field} must be within [{lo:g}, {hi:g}], got {x:g}")


def _id_problem(value: str, field: str, limits: Limits, required: bool) -> Problem | None:
    if not value:
        return Problem(field, "REQUIRED", f"{field} is required") if required else None
    if len(value) > limits.max_id_len:
        return Problem(field, "TOO_LONG", f"{field} longer than {limits.max_id_len} characters")
    return None


def _time_problem(t: int, now_ms: int, limits: Limits, field: str) -> Problem | None:
    if t <= 0:
        return Problem(field, "REQUIRED", f"{field} is required (epoch milliseconds)")
    if t > now_ms + limits.max_future_ms:
        return Problem(
            field, "TOO_FAR_IN_FUTURE", f"{field} is {(t - now_ms) / 1000:.0f} s in the future"
        )
    if t < now_ms - limits.max_past_ms:
        return Problem(field, "TOO_OLD", f"{field} is {(now_ms - t) / 86_400_000:.1f} days old")
    return None


Rule = tuple[str, float, float]  # attribute, low, high (inclusive; NaN fails every rule)


def range_rules(limits: Limits) -> dict[str, tuple[Rule, ...]]:
    """Per kind, the numeric fields and their bounds (table-driven: one loop, no branches)."""
    dur, buf, dl = limits.max_duration_s, limits.max_buffer_s, limits.max_download_ms
    return {
        "chunk_downloaded": (
            ("chunk_index", 0, 1_000_000),
            ("bitrate_kbps", 1, limits.max_bitrate_kbps),
            ("rung", 0, limits.max_rung),
            ("bytes", 1, limits.max_chunk_bytes),
            ("download_ms", 0.0, dl),
            ("buffer_after_s", 0.0, buf),
            ("rebuffer_ms", 0.0, dl),
            ("rtt_ms", 0.0, 60_000.0),
            ("tail_bytes", 0, limits.max_chunk_bytes),
            ("tail_ms", 0.0, dl),
        ),
        "heartbeat": (
            ("position_s", 0.0, dur),
            ("buffer_s", 0.0, buf),
            ("bitrate_kbps", 0, limits.max_bitrate_kbps),
            ("throughput_kbps", 0.0, 10_000_000.0),
        ),
        "session_start": (("title_duration_s", 0.0, dur), ("start_position_s", 0.0, dur)),
        "play": (("position_s", 0.0, dur), ("source_position", 0, 10_000)),
        "pause": (("position_s", 0.0, dur),),
        "resume": (("position_s", 0.0, dur),),
        "seek": (("from_s", 0.0, dur), ("to_s", 0.0, dur)),
        "skip": (("duration_s", 1e-3, dur), ("position_s", 0.0, dur)),
        "stop": (("duration_s", 1e-3, dur), ("position_s", 0.0, dur)),
        "complete": (("duration_s", 1e-3, dur), ("position_s", 0.0, dur)),
        "rating": (("value", 0.5, 5.0),),
        "click": (("position", 0, 10_000),),
        "impression": (),
    }


def _tail_problem(c: pb.ChunkDownloaded) -> Problem | None:
    """The progress measurement (tail) must describe the end of this very transfer."""
    if (c.tail_bytes > 0) != (c.tail_ms > 0):
        return Problem(
            "chunk_downloaded.tail_ms",
            "INCOMPLETE",
            "tail_bytes and tail_ms come together: both set or both 0",
        )
    if c.tail_ms > c.download_ms:
        return _range("chunk_downloaded.tail_ms", c.tail_ms, 0.0, c.download_ms)
    if c.tail_bytes > c.bytes:
        return _range("chunk_downloaded.tail_bytes", c.tail_bytes, 0, c.bytes)
    return None


_POSITIONED = frozenset({"skip", "stop", "complete"})


def _shape_problem(ev: pb.PlaybackEvent, kind: str, limits: Limits) -> Problem | None:
    """Checks that are not plain ranges: positions within the title, impression shape."""
    if kind in _POSITIONED:
        sub = getattr(ev, kind)
        if sub.position_s > sub.duration_s * 1.01 + 1.0:
            return _range(f"{kind}.position_s", sub.position_s, 0.0, sub.duration_s * 1.01 + 1.0)
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
    if kind == "chunk_downloaded":
        return _tail_problem(ev.chunk_downloaded)
    if kind == "click" and not ev.click.row_id:
        return Problem("click.row_id", "REQUIRED", "click.row_id is required")
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
    max_id = limits.max_id_len
    t = ev.event_time_ms
    # Fast path: one combined test of the envelope; the slow path names the culprit.
    if not (
        0 < len(ev.event_id) <= max_id
        and 0 < len(ev.user_id) <= max_id
        and (0 < len(ev.session_id) <= max_id or (kind not in _SESSION_KINDS and not ev.session_id))
        and (0 < len(ev.title_id) <= max_id or (kind not in _TITLE_KINDS and not ev.title_id))
        and len(ev.profile_id) <= max_id
        and now_ms - limits.max_past_ms <= t <= now_ms + limits.max_future_ms
    ):
        problem = (
            _id_problem(ev.event_id, "event_id", limits, True)
            or _id_problem(ev.user_id, "user_id", limits, True)
            or _id_problem(ev.session_id, "session_id", limits, kind in _SESSION_KINDS)
            or _id_problem(ev.title_id, "title_id", limits, kind in _TITLE_KINDS)
            or _id_problem(ev.profile_id, "profile_id", limits, False)
            or _time_problem(t, now_ms, limits, "event_time_ms")
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
        region = c.region
        if region and not (len(region) == 2 and region.isalpha() and region.isupper()):
            return Problem(
                "client.region", "BAD_FORMAT", f"region must be ISO 3166-1 alpha-2, got {region!r}"
            )
    sub = getattr(ev, kind)
    for attr, lo, hi in limits.rules[kind]:
        value = getattr(sub, attr)
        if not lo <= value <= hi:  # also catches NaN
            return _range(f"{kind}.{attr}", value, lo, hi)
    if kind in _SHAPED:
        return _shape_problem(ev, kind, limits)
    return None


def validate_subscription(
    ev: sub_pb.SubscriptionEvent, now_ms: int, limits: Limits
) -> Problem | None:
    """Return the first problem with a subscription event, or None."""
    kind = ev.WhichOneof("kind")
    if kind is None:
        return Problem("kind", "REQUIRED", "event has no kind (signup, plan_change or cancel)")
    problem = (
        _id_problem(ev.event_id, "event_id", limits, True)
        or _id_problem(ev.user_id, "user_id", limits, True)
        or _time_problem(ev.event_time_ms, now_ms, limits, "event_time_ms")
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
