"""The online hit-rate gauge: a play counts as a hit if any row of the last screen showed it."""

from __future__ import annotations

from confluent_kafka import Message

from reelstream.playback.v1 import events_pb2 as pb
from services.recommendation.learner import RecoState


def _apply(state: RecoState, ev: pb.PlaybackEvent) -> None:
    state.apply(Message(topic="reelstream.playback.v1", value=ev.SerializeToString()))


def _row(user: str, t_ms: int, titles: list[str]) -> pb.PlaybackEvent:
    return pb.PlaybackEvent(
        event_id=f"imp-{user}-{t_ms}",
        user_id=user,
        event_time_ms=t_ms,
        impression=pb.Impression(title_ids=titles),
    )


def _play(user: str, t_ms: int, title: str) -> pb.PlaybackEvent:
    return pb.PlaybackEvent(
        event_id=f"play-{user}-{t_ms}",
        user_id=user,
        title_id=title,
        event_time_ms=t_ms,
        play=pb.Play(),
    )


def test_a_play_from_any_row_of_the_screen_is_a_hit() -> None:
    state = RecoState()
    t = 1_700_000_000_000
    _apply(state, _row("u1", t, ["a", "b"]))
    _apply(state, _row("u1", t + 1_000, ["c", "d"]))  # second row of the same screen
    _apply(state, _play("u1", t + 5_000, "a"))
    assert state.hit_rate == 1.0


def test_an_old_screen_is_forgotten_and_a_miss_counts() -> None:
    state = RecoState()
    t = 1_700_000_000_000
    _apply(state, _row("u2", t, ["a"]))
    _apply(state, _row("u2", t + 3_600_000, ["x"]))  # an hour later: a new screen
    _apply(state, _play("u2", t + 3_601_000, "a"))
    assert state.hit_rate == 0.0
    assert state.plays_seen == 1
