"""Plain event dataclasses the engagement features consume (the lead maps protobuf onto them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

DAY_S = 86_400.0


class EventKind(enum.StrEnum):
    """Playback and subscription event kinds that engagement features understand."""

    SESSION_START = "session_start"
    PLAY = "play"
    COMPLETE = "complete"
    SKIP = "skip"
    STOP = "stop"
    CHUNK = "chunk"
    HEARTBEAT = "heartbeat"
    RATING = "rating"
    IMPRESSION = "impression"
    CLICK = "click"
    SIGNUP = "signup"
    PLAN_CHANGE = "plan_change"
    CANCEL = "cancel"


SUBSCRIPTION_KINDS = frozenset({EventKind.SIGNUP, EventKind.PLAN_CHANGE, EventKind.CANCEL})


@dataclass(slots=True)
class EngagementEvent:
    """One playback or subscription event, in event time (epoch seconds).

    One flat record rather than a class per kind: the hot path dispatches on
    ``kind`` and unused fields stay at their defaults. Field meanings:

    - ``watched_s``: seconds actually watched since the previous progress event
      of the same play (heartbeat, stop, complete); additive, so totals do not
      depend on arrival order.
    - ``position_s`` / ``duration_s``: playhead and title length at stop/complete;
      for ``chunk`` events ``duration_s`` is the media seconds the chunk (or a
      client-side batch of chunks) covers.
    - ``bitrate_kbps``, ``rebuffer_ms``, ``download_ms``: chunk quality.
    - ``rating``: 1..5 for ``rating`` events; ``plan``: plan name for
      ``signup`` / ``plan_change``.

    >>> e = EngagementEvent("u1", "e1", 3 * DAY_S + 10, EventKind.PLAY, title_id="t9")
    >>> e.day
    3
    """

    user_id: str
    event_id: str
    time: float
    kind: EventKind
    title_id: str = ""
    genres: tuple[str, ...] = ()
    device: str = ""
    from_recommendation: bool = False
    position_s: float = 0.0
    duration_s: float = 0.0
    watched_s: float = 0.0
    bitrate_kbps: float = 0.0
    rebuffer_ms: float = 0.0
    download_ms: float = 0.0
    rating: float = 0.0
    plan: str = ""

    @property
    def day(self) -> int:
        """Event-time day index (UTC days since the epoch)."""
        return int(self.time // DAY_S)


@dataclass(slots=True)
class Snapshot:
    """A per-user feature snapshot at ``time`` (event time): what churn consumes.

    ``unfinished_title`` is context for retention actions, not a model feature.
    """

    user_id: str
    time: float
    features: dict[str, float]
    unfinished_title: str = ""
    reason: str = "change"  # "change" or "tick"
