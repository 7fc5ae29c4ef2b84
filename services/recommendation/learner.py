"""The recommendation service's state: the live model plus what serving needs to know.

:class:`RecoState` is what gets snapshotted with the Kafka offsets. ``apply`` is the
per-record handler of the consume loop (catalog records register titles, playback
events become feedback); everything else here is a read that never changes it.

The online quality gauge is computed from the event stream itself, so reads stay
pure: the titles a user was last *shown* (impression events the player reports) are
remembered per user, and each later play counts as a hit if its title was among
them (an exponentially weighted rolling rate over the last ~500 plays).
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from confluent_kafka import Message

from services.recommendation import metrics
from services.recommendation.events import decode_playback, decode_title, feedback_of
from services.recommendation.model import Recommender, UserStore

HIT_DECAY = 1 / 500
SCREEN_GAP_MS = 120_000  # impressions this close together are rows of one home screen
SCREEN_MAX_TITLES = 400  # bound on one screen's remembered titles


class _Lru:
    """A mapping that forgets its least recently written keys beyond ``cap`` (picklable)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data: OrderedDict[str, object] = OrderedDict()

    def get(self, key: str, default: object = None) -> object:
        return self.data.get(key, default)

    def put(self, key: str, value: object) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.cap:
            self.data.popitem(last=False)

    def __len__(self) -> int:
        return len(self.data)


class RecoState:
    """Model + per-user event counts (freshness) + last impressions (hit rate)."""

    def __init__(
        self, max_users: int = 200_000, idle_ttl_days: float = 60.0, seed: int = 0
    ) -> None:
        self.model = Recommender(
            users=UserStore(max_users=max_users, idle_ttl_s=idle_ttl_days * 86400.0), seed=seed
        )
        self.events_applied = _Lru(max_users)
        self.last_shown = _Lru(max_users)
        self.hit_rate = 0.0
        self.plays_seen = 0
        self.titles: dict[
            str, str
        ] = {}  # title id -> name, for row titles ("Because you watched X")
        self.maturity = np.zeros(0, dtype=np.int8)  # per catalogue row, for the maturity filter

    # -- learning (the consume loop's handler) ------------------------------------------
    def apply(self, msg: Message) -> None:
        """Learn from one Kafka record (catalog or playback)."""
        t0 = time.perf_counter()
        if str(msg.topic()).endswith("catalog.v1"):
            title = decode_title(msg.value())
            self.model.add_item(
                title.title_id,
                list(title.genres),
                list(title.regions),
                title.release_time_ms / 1000,
            )
            self.titles[title.title_id] = title.name
            row = self.model.catalog.index[title.title_id]
            if row >= self.maturity.shape[0]:
                grown = np.zeros(max(16, 2 * (row + 1)), dtype=np.int8)
                grown[: self.maturity.shape[0]] = self.maturity
                self.maturity = grown
            self.maturity[row] = title.maturity
            metrics.TITLES.set(len(self.model.catalog))
            return
        ev = decode_playback(msg.value())
        kind = ev.WhichOneof("kind")
        if kind == "impression":
            # A screen arrives as one impression per row: rows seen within SCREEN_GAP_MS of
            # the previous one belong to the same screen, so a play is a hit if any row had it.
            prev = self.last_shown.get(ev.user_id)
            shown = frozenset(ev.impression.title_ids)
            if (
                isinstance(prev, tuple)
                and abs(ev.event_time_ms - prev[0]) <= SCREEN_GAP_MS
                and len(prev[1]) < SCREEN_MAX_TITLES
            ):
                shown = prev[1] | shown
            self.last_shown.put(ev.user_id, (ev.event_time_ms, shown))
        elif kind == "play":
            screen = self.last_shown.get(ev.user_id)
            hit = 1.0 if isinstance(screen, tuple) and ev.title_id in screen[1] else 0.0
            self.plays_seen += 1
            decay = max(HIT_DECAY, 1 / self.plays_seen)
            self.hit_rate += decay * (hit - self.hit_rate)
            metrics.HIT_RATE.set(self.hit_rate)
        for fb in feedback_of(ev):
            self.model.learn_one(fb)
            metrics.FEEDBACK.labels(fb.kind).inc()
        count = self.events_applied.get(ev.user_id, 0)
        self.events_applied.put(ev.user_id, (count if isinstance(count, int) else 0) + 1)
        if ev.ingest_time_ms:
            metrics.FRESHNESS.observe(max(0.0, time.time() - ev.ingest_time_ms / 1000))
        metrics.UPDATE_SECONDS.observe(time.perf_counter() - t0)
        metrics.USERS.set(len(self.model.users))

    # -- reads --------------------------------------------------------------------------
    def user_events(self, user: str) -> int:
        """How many of ``user``'s events the live model has applied."""
        n = self.events_applied.get(user, 0)
        return n if isinstance(n, int) else 0

    def popular(
        self, k: int, exclude_rows: np.ndarray, mask: np.ndarray
    ) -> list[tuple[str, float]]:
        """The global-popularity baseline (all-time plays), for the experiment's control arm."""
        n = len(self.model.catalog)
        s = self.model.plays[:n].astype(np.float64).copy()
        allowed = mask[:n].copy()
        if exclude_rows.size:
            allowed[exclude_rows] = False
        s[~allowed] = -np.inf
        k = min(k, int(allowed.sum()))
        if k <= 0:
            return []
        top = np.argpartition(-s, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.lexsort((top, -s[top]))]
        ids = self.model.catalog.ids
        return [(str(ids[r]), float(s[r])) for r in top]

    def name_of(self, title_id: str) -> str:
        """A title's display name (its id until the catalog says otherwise)."""
        return self.titles.get(title_id, title_id)
