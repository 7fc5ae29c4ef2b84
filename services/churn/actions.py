"""Retention-action policy: on an upward risk crossing, one rate-limited, idempotent action per user."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.churn.factors import Factor

DAY_S = 86_400.0
GENERIC_MESSAGE = "New this week on Reelstream: see what's just arrived."


class ActionKind(enum.StrEnum):
    """What the retention message does."""

    CONTINUE_WATCHING = "continue_watching"
    NEW_RECOMMENDATION = "new_recommendation"
    QUALITY_APOLOGY = "quality_apology"


class Recommender(Protocol):
    """Fills an action's content slot (the recommendation service over gRPC); may raise."""

    def __call__(self, user_id: str, kind: ActionKind, limit: int) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class Action:
    """A retention action; ``action_id`` is the same whenever the same crossing is replayed."""

    action_id: str
    user_id: str
    time: float
    kind: ActionKind
    risk: float
    title_ids: tuple[str, ...]
    message: str
    reason: str
    degraded: bool


@dataclass(slots=True)
class _UserPolicyState:
    last_risk: float
    last_seen: float
    last_action_time: float | None = None
    last_window: int | None = None


def action_id(user_id: str, window: int) -> str:
    """Deterministic id from user and window index, so a replay re-emits the same id.

    >>> action_id("u1", 7) == action_id("u1", 7) != action_id("u1", 8)
    True
    """
    return hashlib.sha256(f"{user_id}:{window}".encode()).hexdigest()[:24]


class RetentionPolicy:
    """Turns upward crossings of ``threshold`` into at most one action per user per window.

    An action fires when a user's risk goes from below ``threshold`` to at or
    above it, and no action for that user was sent in the same window index
    (``time // window_s``, event time) nor within ``window_s`` before. The
    action id hashes user and window index, so after a restart from a snapshot
    replaying the same events yields the same ids (the consumer de-duplicates).
    The recommender may fail or return nothing: the action then carries a
    generic message and ``degraded=True`` instead of failing.

    Kind: ``QUALITY_APOLOGY`` if the top factor is playback quality, else
    ``CONTINUE_WATCHING`` if there is an unfinished title, else
    ``NEW_RECOMMENDATION``.

    >>> pol = RetentionPolicy(threshold=0.3, recommender=lambda u, k, n: ["t1", "t2"])
    >>> pol.observe("u", 0.0, 0.1, list) is None
    True
    >>> a = pol.observe("u", 3600.0, 0.5, list)
    >>> a.kind, a.title_ids, a.degraded
    (<ActionKind.NEW_RECOMMENDATION: 'new_recommendation'>, ('t1', 't2'), False)
    """

    def __init__(
        self,
        threshold: float = 0.3,
        window_s: float = 7 * DAY_S,
        recommender: Recommender | None = None,
        n_titles: int = 3,
        idle_s: float = 60 * DAY_S,
    ) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self.recommender = recommender
        self.n_titles = n_titles
        self.idle_s = idle_s
        self._users: dict[str, _UserPolicyState] = {}
        self.suppressed = 0
        self.degraded = 0

    def __getstate__(self) -> dict[str, object]:
        # The recommender is a live client: it is re-attached after loading, never pickled.
        state = dict(self.__dict__)
        state["recommender"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    def observe(
        self,
        user_id: str,
        time: float,
        risk: float,
        factors: Callable[[], Sequence[Factor]],
        unfinished_title: str = "",
    ) -> Action | None:
        """Feed a new risk for a user; return an action on an allowed upward crossing.

        ``factors`` is called only when an action is produced (explaining is
        costlier than scoring).
        """
        st = self._users.get(user_id)
        prev = st.last_risk if st is not None else 0.0
        if st is None:
            st = self._users[user_id] = _UserPolicyState(risk, time)
        elif time < st.last_seen:
            return None  # an older snapshot arriving late: never re-decide the past
        st.last_risk, st.last_seen = risk, time
        if not (prev < self.threshold <= risk):
            return None
        window = int(time // self.window_s)
        if st.last_window == window or (
            st.last_action_time is not None and time - st.last_action_time < self.window_s
        ):
            self.suppressed += 1
            return None
        st.last_window, st.last_action_time = window, time
        return self._make(user_id, time, risk, window, list(factors()), unfinished_title)

    def _make(
        self,
        user_id: str,
        time: float,
        risk: float,
        window: int,
        factors: list[Factor],
        unfinished: str,
    ) -> Action:
        words = ", ".join(f.phrase for f in factors) or "no single dominant factor"
        reason = f"risk {risk:.2f} crossed {self.threshold:.2f}: {words}"
        if factors and factors[0].is_quality:
            kind = ActionKind.QUALITY_APOLOGY
        elif unfinished:
            kind = ActionKind.CONTINUE_WATCHING
        else:
            kind = ActionKind.NEW_RECOMMENDATION
        aid = action_id(user_id, window)
        if kind is ActionKind.CONTINUE_WATCHING:
            msg = "Pick up where you left off."
            return Action(aid, user_id, time, kind, risk, (unfinished,), msg, reason, False)
        titles = self._recommend(user_id, kind)
        if kind is ActionKind.QUALITY_APOLOGY:
            # The apology stands on its own; suggestions are a bonus.
            msg = "Sorry about the playback trouble lately. We've tuned your streams."
            return Action(aid, user_id, time, kind, risk, titles, msg, reason, not titles)
        if not titles:
            return Action(aid, user_id, time, kind, risk, (), GENERIC_MESSAGE, reason, True)
        msg = "Something new picked for you."
        return Action(aid, user_id, time, kind, risk, titles, msg, reason, False)

    def _recommend(self, user_id: str, kind: ActionKind) -> tuple[str, ...]:
        if self.recommender is None:
            self.degraded += 1
            return ()
        try:
            titles = tuple(str(t) for t in self.recommender(user_id, kind, self.n_titles))
        except Exception:  # any failure of the remote call degrades, never propagates
            self.degraded += 1
            return ()
        if not titles:
            self.degraded += 1
        return titles[: self.n_titles]

    def forget(self, user_id: str) -> None:
        """Drop a user's policy state (cancelled or erased)."""
        self._users.pop(user_id, None)

    def expire(self, now: float) -> int:
        """Drop users not seen for ``idle_s``; returns how many were dropped."""
        stale = [u for u, s in self._users.items() if now - s.last_seen > self.idle_s]
        for u in stale:
            del self._users[u]
        return len(stale)

    def __len__(self) -> int:
        return len(self._users)
