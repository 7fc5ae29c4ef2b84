"""Experiment arms, assigned by a stable hash of the user id (same user, same arm, every run).

Each experiment salts the hash with its own name, so the recommendation and
ABR assignments are independent of each other.

>>> rec_arm("sim-000001") == rec_arm("sim-000001")
True
>>> rec_arm("sim-000001") in (REC_LEARNED, REC_POPULARITY)
True
"""

from __future__ import annotations

import hashlib

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


def abr_arm(user_id: str, treatment_share: float = 0.5) -> str:
    """``learned`` (ask the abr service) or ``buffer_based`` (client-side BBA)."""
    return ABR_LEARNED if unit_hash("abr-v1", user_id) < treatment_share else ABR_BUFFER_BASED


def rec_variant(arm: str) -> str:
    """The ``variant`` field of a recommendation request for an arm.

    >>> rec_variant(REC_LEARNED), rec_variant(REC_POPULARITY)
    ('', 'popularity')
    """
    return "popularity" if arm == REC_POPULARITY else ""
