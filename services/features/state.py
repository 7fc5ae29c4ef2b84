"""Per-user engagement state: event-time daily buckets in a ring, serialisable for a faust table."""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Counter rows of the (counter, slot) matrix. Every counter is additive, so a
# bucket's totals do not depend on the order its events arrived in.
SESSIONS = 0
WATCH_S = 1
PLAYS = 2
PLAYS_RECO = 3
COMPLETES = 4
SKIPS = 5
STOPS = 6
FRACTION_SUM = 7
FRACTION_N = 8
CHUNK_S = 9
REBUFFER_S = 10
BITRATE_X_S = 11
IMPRESSIONS = 12
CLICKS = 13
RATING_SUM = 14
RATING_N = 15
PLAN_CHANGES = 16
DOWNGRADES = 17
EVENTS = 18
N_COUNTERS = 19

MAX_GENRES_PER_DAY = 16
MAX_DEVICES_PER_DAY = 8
MAX_UNFINISHED = 3
FORMAT_VERSION = 1
_MAGIC = b"RSE1"


@dataclass(slots=True)
class UserEngagement:
    """One user's engagement state; the value a faust table holds per user key.

    Memory is bounded whatever the event volume: ``ring`` day slots of
    ``N_COUNTERS`` floats, at most 16 genres and 8 devices per day, at most
    ``max_ids`` recent event ids and 3 unfinished titles.

    >>> s = UserEngagement.empty("u1", ring=32, max_ids=4)
    >>> s.slot_for(100) == 100 % 32
    True
    >>> UserEngagement.from_bytes(s.to_bytes()).to_dict() == s.to_dict()
    True
    """

    user_id: str
    ring: int
    max_ids: int
    days: np.ndarray  # (ring,) int64, -1 = empty slot
    counts: np.ndarray  # (N_COUNTERS, ring) float64
    genres: list[set[str]]
    devices: list[set[str]]
    recent_ids: deque[str]
    recent_set: set[str]
    max_time: float | None = None
    first_time: float | None = None
    last_session_time: float | None = None
    plan: str = ""
    signup_time: float | None = None
    subscribed: bool = False
    cancel_time: float | None = None
    sub_time: float | None = None  # time of the newest subscription event applied
    unfinished: list[tuple[str, float, float]] = field(default_factory=list)
    dropped_late: int = 0
    duplicates: int = 0
    last_emit_time: float | None = None
    last_tick_day: int | None = None
    dirty: bool = False

    @classmethod
    def empty(cls, user_id: str, ring: int, max_ids: int) -> UserEngagement:
        """A fresh state for a user never seen before."""
        return cls(
            user_id=user_id,
            ring=ring,
            max_ids=max_ids,
            days=np.full(ring, -1, dtype=np.int64),
            counts=np.zeros((N_COUNTERS, ring), dtype=np.float64),
            genres=[set() for _ in range(ring)],
            devices=[set() for _ in range(ring)],
            recent_ids=deque(),
            recent_set=set(),
        )

    def grow(self, ring: int) -> None:
        """Widen the ring to ``ring`` slots in place, keeping every day it holds (a state
        written under a shorter ring, e.g. before the billing-period features, keeps its days).

        >>> s = UserEngagement.empty("u1", ring=3, max_ids=4)
        >>> s.counts[0, s.slot_for(10)] = 5.0
        >>> s.grow(7)
        >>> s.ring, int(s.days[10 % 7]), float(s.counts[0, 10 % 7])
        (7, 10, 5.0)
        """
        if ring <= self.ring:
            return
        days = np.full(ring, -1, dtype=np.int64)
        counts = np.zeros((N_COUNTERS, ring), dtype=np.float64)
        genres: list[set[str]] = [set() for _ in range(ring)]
        devices: list[set[str]] = [set() for _ in range(ring)]
        for old in np.flatnonzero(self.days >= 0).tolist():
            new = int(self.days[old]) % ring
            days[new] = self.days[old]
            counts[:, new] = self.counts[:, old]
            genres[new], devices[new] = self.genres[old], self.devices[old]
        self.ring, self.days, self.counts = ring, days, counts
        self.genres, self.devices = genres, devices

    def slot_for(self, day: int) -> int:
        """The ring slot holding ``day``, recycling the slot if it held an older day."""
        slot = day % self.ring
        if self.days[slot] != day:
            self.days[slot] = day
            self.counts[:, slot] = 0.0
            self.genres[slot].clear()
            self.devices[slot].clear()
        return slot

    def seen(self, event_id: str) -> bool:
        """Whether ``event_id`` is among the last ``max_ids`` ids applied."""
        return event_id in self.recent_set

    def remember(self, event_id: str) -> None:
        """Record an applied event id, forgetting the oldest beyond ``max_ids``."""
        if len(self.recent_ids) >= self.max_ids:
            self.recent_set.discard(self.recent_ids.popleft())
        self.recent_ids.append(event_id)
        self.recent_set.add(event_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; only live slots are written, so idle users stay small."""
        d = self._header()
        d["counts"] = self.counts[:, self._live()].T.tolist()
        return d

    def _live(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.days >= 0)]

    def _header(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "user_id": self.user_id,
            "ring": self.ring,
            "max_ids": self.max_ids,
            "slots": [
                [int(self.days[i]), sorted(self.genres[i]), sorted(self.devices[i])]
                for i in self._live()
            ],
            "ids": list(self.recent_ids),
            "max_time": self.max_time,
            "first_time": self.first_time,
            "last_session_time": self.last_session_time,
            "plan": self.plan,
            "signup_time": self.signup_time,
            "subscribed": self.subscribed,
            "cancel_time": self.cancel_time,
            "sub_time": self.sub_time,
            "unfinished": [list(u) for u in self.unfinished],
            "dropped_late": self.dropped_late,
            "duplicates": self.duplicates,
            "last_emit_time": self.last_emit_time,
            "last_tick_day": self.last_tick_day,
            "dirty": self.dirty,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UserEngagement:
        """Inverse of :meth:`to_dict`."""
        return cls._from_header(d, np.asarray(d["counts"], dtype=np.float64))

    @classmethod
    def _from_header(cls, d: dict[str, Any], counts: np.ndarray) -> UserEngagement:
        if d.get("v") != FORMAT_VERSION:
            raise ValueError(f"unsupported engagement state version {d.get('v')!r}")
        s = cls.empty(d["user_id"], int(d["ring"]), int(d["max_ids"]))
        for (day, genres, devices), col in zip(d["slots"], counts, strict=True):
            slot = int(day) % s.ring
            s.days[slot] = int(day)
            s.counts[:, slot] = col
            s.genres[slot] = set(genres)
            s.devices[slot] = set(devices)
        for eid in d["ids"]:
            s.remember(eid)
        s.max_time = d["max_time"]
        s.first_time = d["first_time"]
        s.last_session_time = d["last_session_time"]
        s.plan = d["plan"]
        s.signup_time = d["signup_time"]
        s.subscribed = bool(d["subscribed"])
        s.cancel_time = d["cancel_time"]
        s.sub_time = d["sub_time"]
        s.unfinished = [(str(t), float(a), float(f)) for t, a, f in d["unfinished"]]
        s.dropped_late = int(d["dropped_late"])
        s.duplicates = int(d["duplicates"])
        s.last_emit_time = d["last_emit_time"]
        s.last_tick_day = d["last_tick_day"]
        s.dirty = bool(d["dirty"])
        return s

    def to_bytes(self) -> bytes:
        """Bytes for the faust changelog: magic, JSON header, then the live counters as raw
        little-endian float64 (JSON-encoding ~600 floats per event would dominate the cost)."""
        header = json.dumps(self._header(), separators=(",", ":")).encode()
        counts = np.ascontiguousarray(self.counts[:, self._live()].T, dtype="<f8")
        return _MAGIC + struct.pack("<I", len(header)) + header + counts.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> UserEngagement:
        """Inverse of :meth:`to_bytes`."""
        if data[:4] != _MAGIC:
            raise ValueError("not an engagement state record")
        (n,) = struct.unpack_from("<I", data, 4)
        header = json.loads(data[8 : 8 + n])
        flat = np.frombuffer(data, dtype="<f8", offset=8 + n).astype(np.float64)
        return cls._from_header(header, flat.reshape(len(header["slots"]), N_COUNTERS))
