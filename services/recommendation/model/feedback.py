"""Map one viewer action on a title to an implicit-feedback weight."""

from __future__ import annotations

import dataclasses
from typing import Literal

Kind = Literal["play", "complete", "skip", "stop", "rating", "impression", "click"]
KINDS: frozenset[str] = frozenset(
    ("play", "complete", "skip", "stop", "rating", "impression", "click")
)


@dataclasses.dataclass(frozen=True, slots=True)
class Feedback:
    """One viewer action on one title, already decoded from the wire format.

    `progress` is the fraction of the title reached (position / duration, 0..1);
    `rating` is on a 1..`rating_max` scale (only for kind="rating"). `ts` is the
    event time in seconds: every clock in the model is event time, so a replay
    from Kafka offsets rebuilds exactly the same state.
    """

    user: str | int
    item: str | int
    kind: Kind
    ts: float
    progress: float = 0.0
    rating: float | None = None
    region: str = ""
    device: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class FeedbackWeights:
    """The few numbers that turn an action into a signed preference weight.

    complete > long watch > short watch > 0 > unclicked impression > quick skip.
    """

    complete: float = 1.0
    long_watch: float = 0.6  # weight at `long_from`; grows linearly to `complete` at 1.0
    long_from: float = 0.5
    short_watch: float = 0.15  # weight of a watch that got past `quick` but not `long_from`
    quick: float = 0.1  # below this fraction a skip/stop is an abandonment
    quick_skip: float = -0.5
    late_skip: float = -0.1
    impression: float = -0.05
    click: float = 0.1
    rating_max: float = 5.0


DEFAULT_WEIGHTS = FeedbackWeights()


def implicit_weight(fb: Feedback, w: FeedbackWeights = DEFAULT_WEIGHTS) -> float:
    """Signed preference strength of one action, in [-1, 1].

    >>> f = lambda kind, p=0.0, r=None: implicit_weight(Feedback(1, 2, kind, 0.0, p, r))
    >>> f("complete") > f("stop", 0.8) > f("stop", 0.3) > 0 > f("impression") > f("skip", 0.02)
    True
    >>> f("rating", r=5.0), f("rating", r=3.0), f("rating", r=1.0)
    (1.0, 0.0, -1.0)
    """
    p = min(max(fb.progress, 0.0), 1.0)
    if fb.kind == "complete":
        return w.complete
    if fb.kind == "rating":
        mid = (1.0 + w.rating_max) / 2.0
        r = fb.rating if fb.rating is not None else mid
        return max(-1.0, min(1.0, (r - mid) / (w.rating_max - mid)))
    if fb.kind == "impression":
        return w.impression
    if fb.kind == "click":
        return w.click
    if fb.kind == "skip":
        return w.quick_skip if p < w.quick else w.late_skip
    # play / stop: how far the viewer got is the signal
    if p < w.quick:
        return w.quick_skip if fb.kind == "stop" else 0.0
    if p < w.long_from:
        return w.short_watch
    frac = (p - w.long_from) / (1.0 - w.long_from)
    return w.long_watch + (w.complete - w.long_watch) * frac


def is_consumption(fb: Feedback, w: FeedbackWeights = DEFAULT_WEIGHTS) -> bool:
    """Whether the viewer really watched (or rated) the title.

    Consumption feeds the viewing sequence (co-visitation, recent items) even for
    a title the viewer disliked: what people watch next is a fact about viewing
    order, not taste. Taste goes through the signed weight.

    >>> is_consumption(Feedback(1, 2, "rating", 0.0, rating=1.0))
    True
    >>> is_consumption(Feedback(1, 2, "skip", 0.0, progress=0.01))
    False
    """
    if fb.kind in ("complete", "rating"):
        return True
    return fb.kind in ("play", "stop") and fb.progress >= w.quick


def is_finished(fb: Feedback, w: FeedbackWeights = DEFAULT_WEIGHTS) -> bool:
    """Whether the title should leave the viewer's candidates (watched to the end or rated)."""
    return fb.kind in ("complete", "rating") or fb.progress >= 0.95


def is_rejected(fb: Feedback, w: FeedbackWeights = DEFAULT_WEIGHTS) -> bool:
    """Whether the viewer turned the title down (a skip, or a stop before `quick`).

    A rejected title leaves the viewer's candidates like a finished one: showing
    it again spends a slot on something they just walked away from.

    >>> is_rejected(Feedback(1, 2, "skip", 0.0, progress=0.02))
    True
    >>> is_rejected(Feedback(1, 2, "stop", 0.0, progress=0.5))
    False
    """
    return fb.kind == "skip" or (fb.kind == "stop" and fb.progress < w.quick)
