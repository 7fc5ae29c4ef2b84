"""Per-session ABR state and its store: bounded by an idle TTL and a max-sessions LRU.

Policy: a session lives from ``start_session`` (or its first event) until
``end_session``, or until it has been idle longer than ``idle_ttl_s``, or
until it is the least recently used one when ``max_sessions`` is reached.
Memory is therefore bounded by ``max_sessions`` x ``history`` chunks whatever
the number of events.

>>> store = SessionStore(idle_ttl_s=60.0, max_sessions=2)
>>> _ = store.open("a", now=0.0); _ = store.open("b", now=1.0); _ = store.open("c", now=2.0)
>>> sorted(store.ids())  # "a" was least recently used
['b', 'c']
>>> store.expire(now=61.5)
['c']
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SessionState:
    """What the service remembers about one playback session."""

    session_id: str
    context: dict[str, object] = field(default_factory=dict)
    max_rung: int | None = None
    log_rates: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    errors: deque[float] = field(default_factory=lambda: deque(maxlen=8))
    pending: deque[dict[str, float]] = field(default_factory=deque)
    last_rung: int | None = None
    buffer_s: float = 0.0
    # Log payload rate over the final part of the last transfer, when the player measured it.
    tail_log_rate: float | None = None
    chunks: int = 0
    last_seen: float = 0.0
    # The last decision's correction features and planner scores (imitation training reads them).
    policy_x: Any = None
    policy_scores: Any = None


class SessionStore:
    """Sessions by id in LRU order, expiring after ``idle_ttl_s`` without activity."""

    def __init__(
        self, idle_ttl_s: float = 300.0, max_sessions: int = 100_000, history: int = 16
    ) -> None:
        self.idle_ttl_s = idle_ttl_s
        self.max_sessions = max_sessions
        self.history = history
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def ids(self) -> list[str]:
        """Session ids, least recently used first."""
        return list(self._sessions)

    def open(
        self,
        session_id: str,
        now: float,
        context: Mapping[str, object] | None = None,
        max_rung: int | None = None,
    ) -> SessionState:
        """Create (or reset) a session, evicting the least recently used one when full."""
        self._sessions.pop(session_id, None)
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
        state = SessionState(
            session_id,
            dict(context or {}),
            max_rung,
            deque(maxlen=self.history),
            deque(maxlen=8),
            last_seen=now,
        )
        self._sessions[session_id] = state
        return state

    def get(self, session_id: str, now: float) -> SessionState | None:
        """The live session (refreshing its LRU position), or None if unknown or idle too long."""
        state = self._sessions.get(session_id)
        if state is None:
            return None
        if now - state.last_seen > self.idle_ttl_s:
            del self._sessions[session_id]
            return None
        state.last_seen = now
        self._sessions.move_to_end(session_id)
        return state

    def peek(self, session_id: str) -> SessionState | None:
        """The session without touching its LRU position or expiry (for read-only paths)."""
        return self._sessions.get(session_id)

    def close(self, session_id: str) -> bool:
        """Drop a session; True if it existed."""
        return self._sessions.pop(session_id, None) is not None

    def expire(self, now: float) -> list[str]:
        """Drop every session idle longer than the TTL; returns the ids still alive."""
        stale = [k for k, s in self._sessions.items() if now - s.last_seen > self.idle_ttl_s]
        for key in stale:
            del self._sessions[key]
        return list(self._sessions)
