"""Validation rules: each bad field gets its own code and names the field."""

from __future__ import annotations

import math

import pytest

from reelstream.playback.v1 import events_pb2 as pb
from reelstream.subscription.v1 import events_pb2 as sub_pb
from services.telemetry.validation import Limits, validate_playback, validate_subscription
from tests.factories import chunk, complete, now_ms

LIMITS = Limits()


def check(ev: pb.PlaybackEvent) -> tuple[str, str] | None:
    p = validate_playback(ev, now_ms(), LIMITS)
    return None if p is None else (p.field, p.code)


def test_valid_events_pass() -> None:
    assert check(chunk()) is None
    with_tail = chunk()
    with_tail.chunk_downloaded.tail_bytes, with_tail.chunk_downloaded.tail_ms = 300_000, 500.0
    assert check(with_tail) is None
    assert check(complete()) is None
    imp = pb.PlaybackEvent(
        event_id="i",
        user_id="u",
        event_time_ms=now_ms(),
        impression=pb.Impression(row_id="r", title_ids=["a", "b"], positions=[0, 1]),
    )
    assert check(imp) is None  # impressions need no session or title


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e.ClearField("event_id"), ("event_id", "REQUIRED")),
        (lambda e: e.ClearField("user_id"), ("user_id", "REQUIRED")),
        (lambda e: setattr(e, "user_id", "x" * 500), ("user_id", "TOO_LONG")),
        (lambda e: e.ClearField("session_id"), ("session_id", "REQUIRED")),
        (lambda e: e.ClearField("title_id"), ("title_id", "REQUIRED")),
        (lambda e: e.ClearField("event_time_ms"), ("event_time_ms", "REQUIRED")),
        (
            lambda e: setattr(e, "event_time_ms", now_ms() + 3_600_000),
            ("event_time_ms", "TOO_FAR_IN_FUTURE"),
        ),
        (
            lambda e: setattr(e, "event_time_ms", now_ms() - 90 * 86_400_000),
            ("event_time_ms", "TOO_OLD"),
        ),
        (lambda e: e.ClearField("chunk_downloaded"), ("kind", "REQUIRED")),
        (lambda e: setattr(e.client, "device_type", 99), ("client.device_type", "BAD_ENUM")),
        (lambda e: setattr(e.client, "network_type", 42), ("client.network_type", "BAD_ENUM")),
        (lambda e: setattr(e.client, "region", "norway"), ("client.region", "BAD_FORMAT")),
        (
            lambda e: setattr(e.chunk_downloaded, "bitrate_kbps", 0),
            ("chunk_downloaded.bitrate_kbps", "OUT_OF_RANGE"),
        ),
        (
            lambda e: setattr(e.chunk_downloaded, "download_ms", -1.0),
            ("chunk_downloaded.download_ms", "OUT_OF_RANGE"),
        ),
        (
            lambda e: setattr(e.chunk_downloaded, "download_ms", math.nan),
            ("chunk_downloaded.download_ms", "OUT_OF_RANGE"),
        ),
        (
            lambda e: setattr(e.chunk_downloaded, "bytes", 0),
            ("chunk_downloaded.bytes", "OUT_OF_RANGE"),
        ),
        (
            lambda e: setattr(e.chunk_downloaded, "buffer_after_s", 1e6),
            ("chunk_downloaded.buffer_after_s", "OUT_OF_RANGE"),
        ),
        (
            lambda e: setattr(e.chunk_downloaded, "rung", 40),
            ("chunk_downloaded.rung", "OUT_OF_RANGE"),
        ),
        (
            lambda e: setattr(e.chunk_downloaded, "tail_ms", -1.0),
            ("chunk_downloaded.tail_ms", "OUT_OF_RANGE"),
        ),
        (  # a tail needs both its bytes and its duration
            lambda e: setattr(e.chunk_downloaded, "tail_bytes", 1000),
            ("chunk_downloaded.tail_ms", "INCOMPLETE"),
        ),
        (  # longer than the transfer it ends
            lambda e: e.chunk_downloaded.MergeFrom(
                pb.ChunkDownloaded(tail_bytes=1000, tail_ms=900)
            ),
            ("chunk_downloaded.tail_ms", "OUT_OF_RANGE"),
        ),
        (  # more than the chunk
            lambda e: e.chunk_downloaded.MergeFrom(
                pb.ChunkDownloaded(tail_bytes=925_001, tail_ms=500)
            ),
            ("chunk_downloaded.tail_bytes", "OUT_OF_RANGE"),
        ),
    ],
)
def test_each_bad_field_is_named(mutate, expected) -> None:
    ev = chunk()
    mutate(ev)
    assert check(ev) == expected


def test_rating_and_completion_ranges() -> None:
    assert check(complete(rating=None)) is None
    ev = pb.PlaybackEvent(
        event_id="r", user_id="u", title_id="t", event_time_ms=now_ms(), rating=pb.Rating(value=7)
    )
    assert check(ev) == ("rating.value", "OUT_OF_RANGE")
    ev = complete()
    ev.complete.position_s = ev.complete.duration_s * 2
    assert check(ev) == ("complete.position_s", "OUT_OF_RANGE")
    ev = complete()
    ev.complete.duration_s = 0
    assert check(ev) == ("complete.duration_s", "OUT_OF_RANGE")


def test_impression_shape() -> None:
    def base(imp: pb.Impression) -> pb.PlaybackEvent:
        return pb.PlaybackEvent(event_id="i", user_id="u", event_time_ms=now_ms(), impression=imp)

    empty = base(pb.Impression(row_id="r"))
    assert check(empty) == ("impression.title_ids", "REQUIRED")
    mismatch = base(pb.Impression(row_id="r", title_ids=["a", "b"], positions=[1]))
    assert check(mismatch) == ("impression.positions", "LENGTH_MISMATCH")
    too_many = base(pb.Impression(row_id="r", title_ids=["a"] * 201))
    assert check(too_many) == ("impression.title_ids", "TOO_MANY")


def test_limits_are_configuration() -> None:
    ev = chunk(event_time_ms=now_ms() - 40 * 86_400_000)
    assert check(ev) == ("event_time_ms", "TOO_OLD")
    assert validate_playback(ev, now_ms(), Limits(max_past_ms=60 * 86_400_000)) is None


def test_subscription_validation() -> None:
    ok = sub_pb.SubscriptionEvent(
        event_id="s",
        user_id="u",
        event_time_ms=now_ms(),
        signup=sub_pb.Signup(plan=sub_pb.PLAN_BASIC),
    )
    assert validate_subscription(ok, now_ms(), LIMITS) is None
    no_plan = sub_pb.SubscriptionEvent(
        event_id="s", user_id="u", event_time_ms=now_ms(), signup=sub_pb.Signup()
    )
    p = validate_subscription(no_plan, now_ms(), LIMITS)
    assert p is not None and (p.field, p.code) == ("signup.plan", "BAD_ENUM")
    no_kind = sub_pb.SubscriptionEvent(event_id="s", user_id="u", event_time_ms=now_ms())
    p = validate_subscription(no_kind, now_ms(), LIMITS)
    assert p is not None and p.field == "kind"
