"""Experiment arms, assigned by a stable hash: of the user (recommendation), of the session (ABR).

Each experiment salts the hash with its own name, so the recommendation and
ABR assignments are independent of each other.

Why two units. The recommendation model's effect on hours builds up while a
viewer lives under it (it learns their taste; what they watched shapes the
next screen), so a viewer keeps one arm for the whole experiment. ABR acts
within one playback session: the abr service keeps per-session state plus a
population throughput prior that learns from every session of both arms alike,
so each session draws its own arm. Every viewer then contributes sessions to
both arms and the comparison is within the viewer, on the same network and
device. (What can carry over: a stall-shortened session leaves a title to
resume later, and stalls feed the viewer's churn hazard; both are small next to
the within-session effect, and neither is an ABR metric here.)

:class:`Assignment` also holds the recommendation pre-period: before
``rec_start_s`` every viewer gets the control rows, so the pre-period's
outcomes are a covariate no arm has touched (CUPED), and the learned model
warms up on the same traffic a real launch would have.

>>> rec_arm("sim-000001") == rec_arm("sim-000001")
True
>>> rec_arm("sim-000001") in (REC_LEARNED, REC_POPULARITY)
True
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

REC_LEARNED = "learned"
REC_POPULARITY = "popularity"
ABR_LEARNED = "learned"
ABR_BUFFER_BASED = "buffer_based"


def unit_hash(experiment: str, user_id: str) -> float:
    """A uniform number in [0, 1) from ``experiment`` and ``user_id`` (blake2b, not ``hash``).

    >>> 0.0 <= unit_hash("rec", "u1") < 1.0
    True
    """
    digest = hashlib.blake2b(f"{experiment}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def rec_arm(user_id: str, treatment_share: float = 0.5) -> str:
    """``learned`` (the recommendation model) or ``popularity`` (its baseline variant)."""
    return REC_LEARNED if unit_hash("rec-v1", user_id) < treatment_share else REC_POPULARITY


def abr_session_arm(session_id: str, treatment_share: float = 0.5) -> str:
    """The ABR arm of one playback session (``learned`` with probability ``treatment_share``).

    >>> abr_session_arm("s-1") == abr_session_arm("s-1")
    True
    """
    return (
        ABR_LEARNED
        if unit_hash("abr-session-v1", session_id) < treatment_share
        else (ABR_BUFFER_BASED)
    )


@dataclass(frozen=True)
class Assignment:
    """Who gets which arm when: the run's experiment design (constructor parameters only).

    >>> a = Assignment(abr_learned_share=0.25, rec_start_s=100.0)
    >>> a.rec(REC_LEARNED, 50.0), a.rec(REC_LEARNED, 150.0), a.in_pre_period(50.0)
    ('popularity', 'learned', True)
    """

    abr_learned_share: float = 0.5
    rec_start_s: float = -math.inf  # simulated time the recommendation arms diverge

    def abr(self, session_id: str) -> str:
        """The session's ABR arm."""
        return abr_session_arm(session_id, self.abr_learned_share)

    def in_pre_period(self, t: float) -> bool:
        """Before the recommendation arms diverge."""
        return t < self.rec_start_s

    def rec(self, user_arm: str, t: float) -> str:
        """The rows a viewer of ``user_arm`` gets at ``t`` (control for everyone before start)."""
        return REC_POPULARITY if t < self.rec_start_s else user_arm


def rec_variant(arm: str) -> str:
    """The ``variant`` field of a recommendation request for an arm.

    >>> rec_variant(REC_LEARNED), rec_variant(REC_POPULARITY)
    ('', 'popularity')
    """
    return "popularity" if arm == REC_POPULARITY else ""
