"""The online recommender: learns one feedback event at a time, serves over numpy arrays."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np

from services.recommendation.model.appeal import Appeal
from services.recommendation.model.blend import SignalBlender, inverse_max
from services.recommendation.model.catalog import Catalog, ItemId
from services.recommendation.model.coldlists import ColdList, ColdLists
from services.recommendation.model.covisit import CoVisitation
from services.recommendation.model.feedback import (
    Feedback,
    implicit_weight,
    is_consumption,
    is_finished,
    is_rejected,
)
from services.recommendation.model.mf import PositiveMF
from services.recommendation.model.popularity import DecayedPopularity
from services.recommendation.model.ranking import diverse_top_k, top_k
from services.recommendation.model.users import UserId, UserState, UserStore

SIGNALS = ("covis", "mf", "trend", "popularity", "genre", "appeal")
PRIOR = {"covis": 1.0, "mf": 0.1, "trend": 0.1, "popularity": 0.05, "genre": 0.5, "appeal": 0.3}
# Signals that do not depend on the viewer: what a viewer without history is ranked by.
GLOBAL_SIGNALS = frozenset(("trend", "popularity", "appeal"))


def stable_hash(x: object) -> int:
    """Process-independent hash (Python's str hash is salted per process)."""
    return zlib.crc32(repr(x).encode())


class Recommender:
    """Blend of co-visitation, incremental MF and (segmented) trending, learned online.

    Parameters are the components themselves (each with its own parameters) plus:
    `signals`, the subset of SIGNALS blended (for ablations); `combiner_every`,
    how often (in consumption events) the blender takes a step (each step ranks the
    whole catalogue, and at every 8th event those steps were 60 % of the learning
    cost; every 16th keeps recall@10 on MovieLens-100K at 0.2050 against 0.2062 and
    learns ~1.4x faster, see bench/reco/notes.py); `explore_slots`,
    how many of the k slots go to fresh titles still short of `fresh_plays`
    plays; `pick_pairs`, how many (pick, shown title) pairs each pick from a
    screen teaches the blender (see `_learn_pick`); `seed`; `cold_refresh`, how
    many model updates a cold-start list may lag (viewers without history share
    one list per region, device, filter and k; see `coldlists`; 0 = exact).

    Reads (`recommend`, `similar`, `predict_one` and the row helpers) never
    change the model (they may fill the cold-list cache, which is not pickled);
    randomness in a read (exploration) is derived from
    (seed, viewer, last event time), so the same question gets the same answer.
    Not thread-safe: call reads and `learn_one` from one thread (or one asyncio
    loop); a snapshot is `pickle.dumps(model)` taken between two `learn_one`.
    """

    def __init__(
        self,
        covis: CoVisitation | None = None,
        mf: PositiveMF | None = None,
        trend: DecayedPopularity | None = None,
        users: UserStore | None = None,
        signals: tuple[str, ...] = SIGNALS,
        combiner_every: int = 16,
        explore_slots: int = 1,
        pick_pairs: int = 2,
        seed: int = 0,
        cold_refresh: int = 500,
    ) -> None:
        unknown = set(signals) - set(SIGNALS)
        if unknown or not signals:
            raise ValueError(f"signals must be a non-empty subset of {SIGNALS}, got {signals}")
        self.covis = CoVisitation() if covis is None else covis
        self.mf = PositiveMF(seed=seed) if mf is None else mf
        self.trend = DecayedPopularity() if trend is None else trend
        self.users = UserStore() if users is None else users
        self.signals = signals
        self.combiner_every = combiner_every
        self.explore_slots = explore_slots
        self.pick_pairs = pick_pairs
        self.seed = seed
        self.fresh_plays = 20
        self.fresh_window_s = 30 * 86400.0
        self.catalog = Catalog()
        self.appeal = Appeal()
        self.plays = np.zeros(0, dtype=np.float64)  # all-time consumption counts per row
        self.blender = SignalBlender(signals, prior=tuple(PRIOR[s] for s in signals))
        self._rng = np.random.default_rng(seed)  # used by learn_one only
        self.n_learned = 0
        self.updates = 0  # every learn_one and add_item: how far cold lists may lag
        self.cold_lists = ColdLists(refresh=cold_refresh)

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["cold_lists"] = ColdLists(refresh=self.cold_lists.refresh)  # a cache, not state
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        state.setdefault("updates", 0)  # snapshots written before the cold-list cache
        state.setdefault("cold_lists", ColdLists())
        self.__dict__.update(state)

    # ------------------------------------------------------------------ learning
    def add_item(
        self,
        item: ItemId,
        genres: Iterable[str] = (),
        regions: Iterable[str] = (),
        release_ts: float = 0.0,
    ) -> None:
        """Register a title from the catalogue feed (it can be explored before any play)."""
        self.catalog.add_item(item, genres, regions, release_ts)
        self.updates += 1
        self._sync_rows()

    def _sync_rows(self) -> None:
        n = len(self.catalog)
        if n > self.plays.shape[0]:
            grown = np.zeros(max(n, 2 * self.plays.shape[0], 16))
            grown[: self.plays.shape[0]] = self.plays
            self.plays = grown

    def learn_one(self, fb: Feedback) -> None:
        """Learn from one feedback event (call in event order per viewer)."""
        weight = implicit_weight(fb)
        self.updates += 1
        st = self.users.touch(fb.user, fb.ts)
        if self.users.evicted_rows:
            for row in self.users.evicted_rows:
                self.mf.free_user(row)
            self.users.evicted_rows.clear()
        if fb.region:
            st.region = fb.region
        if fb.device:
            st.device = fb.device
        item = self.catalog.row(fb.item, create=True)
        if item >= self.plays.shape[0]:
            self._sync_rows()
        consumed = is_consumption(fb)
        if consumed:
            self.n_learned += 1
            if st.recent.size and self.n_learned % self.combiner_every == 0:
                self._learn_blend(st, item)
            if not (st.recent.size and st.recent[0] == item):  # a re-view is not a new pair
                self.covis.learn_one(st.recent, item)
            self.trend.learn_one(item, fb.ts, segments=self._segments(st.region, st.device))
            self.plays[item] += 1.0
            self.users.push_recent(st, item)
            if self.catalog.known[item]:  # genres come from the catalogue feed only
                self._learn_genre(st, item, max(weight, 0.1))
        if fb.kind == "impression":
            self.users.show(st, item, fb.ts)
        elif fb.kind in ("click", "play") and st.shown.size:
            self._learn_pick(st, item)
        if weight != 0.0:
            self.mf.learn_one(st.row, item, weight)
        if is_finished(fb) or is_rejected(fb):
            self.users.finish(st, item)
        elif fb.kind in ("play", "stop") and consumed:
            self.users.set_progress(st, item, fb.progress)

    def _learn_genre(self, st: UserState, item: int, weight: float) -> None:
        g = self.catalog.genres[item]
        if st.genre.shape[0] < g.shape[0]:
            st.genre = np.concatenate([st.genre, np.zeros(g.shape[0] - st.genre.shape[0])])
        st.genre *= np.float32(0.98)  # about the last 50 titles count
        st.genre += np.float32(weight) * g

    def _learn_blend(self, st: UserState, item: int) -> None:
        n = len(self.catalog)
        m = min(self.blender.pool, n - 1)
        if m < 2:
            return
        f = self._signal_matrix(st, n, None)
        inv = inverse_max(f)
        s = (self.blender.weights * inv) @ f
        if st.n_finished:
            s[self.users.finished_rows(st)] = -np.inf
        pool = np.argpartition(-s, m - 1)[:m]
        if not (pool == item).any():  # train only where the title made the pool
            return
        neg = int(pool[self._rng.integers(m)])
        if neg != item:
            self.blender.learn_one(f[:, item] * inv, f[:, neg] * inv)

    def _learn_pick(self, st: UserState, item: int) -> None:
        """The viewer picked `item` from a screen: it beats titles shown around it.

        Titles placed just before the pick were most likely looked at and passed
        over (skip-above, Joachims 2002); but pairs against titles above alone
        always contradict the order the screen was ranked in, so whatever signal
        ranked the screen (popularity on the popularity arm's rows, the blend on
        the learned one) would learn a negative weight. Each pick is therefore
        paired with as many titles right below it as random titles above it
        (`pick_pairs` in all), which cancels that bias to first order. The pairs
        come from both arms' screens. The titles above also count as passed over
        for `Appeal`. The screen is then forgotten (one pick, one lesson).
        """
        where = np.flatnonzero(st.shown == item)
        shown, st.shown = st.shown, np.zeros(0, dtype=np.int64)
        if not where.size:
            return
        pos = int(where[0])
        above = shown[:pos]
        above = np.unique(above[above != item])
        below = shown[pos + 1 :]
        below = below[below != item][: self.pick_pairs // 2]
        n_above = min(above.size, self.pick_pairs - self.pick_pairs // 2)
        negs = np.concatenate([self._rng.choice(above, n_above, replace=False), below])
        if negs.size:
            n = len(self.catalog)
            f = self._signal_matrix(st, n, None)  # before this screen counts: prequential
            inv = inverse_max(f)
            for neg in negs.tolist():
                self.blender.learn_one(f[:, item] * inv, f[:, neg] * inv)
        self.appeal.learn_one(item, above)

    @staticmethod
    def _segments(region: str, device: str) -> tuple[str, ...]:
        segs = []
        if region:
            segs.append("region:" + region)
        if device:
            segs.append("device:" + device)
        return tuple(segs)

    # ------------------------------------------------------------------- serving
    def _signal_matrix(self, st: UserState, n: int, ts: float | None) -> np.ndarray:
        f = np.zeros((len(self.signals), n), dtype=np.float32)
        for k, name in enumerate(self.signals):
            if name == "covis":
                f[k] = self.covis.scores(st.recent, n)
            elif name == "mf":
                f[k] = self.mf.scores(st.row, n)
            elif name == "trend":
                f[k] = self._trending_scores(n, st.region, st.device, ts)
            elif name == "genre":
                f[k] = self._genre_scores(st, n)
            elif name == "appeal":
                f[k] = self.appeal.scores(n)
            else:
                f[k] = self.plays[:n]
        return f

    def _genre_scores(self, st: UserState, n: int) -> np.ndarray:
        """Mean of the viewer's genre affinity over each title's genres (0 without any)."""
        m = st.genre.shape[0]
        if not m or st.genre.sum() <= 0:
            return np.zeros(n, dtype=np.float32)
        g = self.catalog.genres[:n, :m]
        return (g @ st.genre) / np.maximum(g.sum(axis=1), 1.0)

    def _trending_scores(self, n: int, region: str, device: str, ts: float | None) -> np.ndarray:
        s = self.trend.scores(n, ts)
        for seg in self._segments(region, device):
            if seg in self.trend.seg:
                local = self.trend.scores(n, ts, seg)
                s = s / (s.max() or 1.0) + local / (local.max() or 1.0)
        return s

    def scores(
        self, user: UserId, region: str = "", device: str = "", ts: float | None = None
    ) -> np.ndarray:
        """Blended score of every catalogue row for `user` (cold-start scores if unknown)."""
        n = len(self.catalog)
        st = self.users.get(user)
        if st is None or not st.recent.size:
            return self._cold_scores(n, region, device, ts)
        f = self._signal_matrix(st, n, ts)
        return (self.blender.weights * inverse_max(f)) @ f

    def _cold_scores(self, n: int, region: str, device: str, ts: float | None) -> np.ndarray:
        """A viewer without history: the blend of the signals that do not need one.

        The learned weights of trending, popularity and appeal (negative ones
        dropped: they only make sense against the personal signals); trending
        alone until some of them count.
        """
        trend = self._trending_scores(n, region, device, ts)
        w = np.maximum(self.blender.weights, 0.0)
        rows = [k for k, s in enumerate(self.signals) if s in GLOBAL_SIGNALS and w[k] > 0]
        if not rows:
            return trend.astype(np.float32)
        f = np.zeros((len(rows), n), dtype=np.float32)
        for j, k in enumerate(rows):
            name = self.signals[k]
            f[j] = (
                trend
                if name == "trend"
                else self.plays[:n]
                if name == "popularity"
                else self.appeal.scores(n)
            )
        return (w[rows] * inverse_max(f)) @ f

    def recommend(
        self,
        user: UserId,
        k: int = 10,
        exclude: Iterable[ItemId] = (),
        mask: np.ndarray | None = None,
        region: str = "",
        device: str = "",
        ts: float | None = None,
        explore: bool = True,
        scores: np.ndarray | None = None,
    ) -> list[tuple[ItemId, float]]:
        """Top-k (item, score) for `user`, best first.

        Never returns the viewer's finished titles, `exclude`, rows where the
        boolean `mask` (over catalogue rows, see `item_mask`) is False, or titles
        unavailable in `region`. Unknown viewers get trending for their
        region/device, diversified across genres. One slot per `explore_slots`
        goes to a fresh title (added via `add_item`, released within 30 days,
        fewer than 20 plays) that matches the viewer's genres, so new titles get
        exposure before they have plays (unless `explore` is False). `scores`, if
        given, are this viewer's `scores(user, region, device, ts)` already computed
        (several rows of one screen rank the same scores under different masks).
        """
        n = len(self.catalog)
        if n == 0 or k <= 0:
            return []
        st = self.users.get(user)
        region = region or (st.region if st else "")
        device = device or (st.device if st else "")
        allowed = self.catalog.available(region)
        if mask is not None:
            allowed &= mask[:n]
        ex = self.catalog.rows_of(exclude)
        if ex.size:
            allowed[ex] = False
        cold = st is None or not st.recent.size
        if cold and scores is None and (st is None or not st.n_finished):
            # Everyone without history gets the same list for the same question: keep it.
            key = (n, region, device, k, ts)
            hit = self.cold_lists.get(key, allowed, self.updates)
            if hit is None:
                hit = self._cold_list(n, region, device, ts, allowed, k)
                self.cold_lists.put(key, allowed, hit)
            s, top, fresh = hit.scores, hit.top, hit.fresh
        else:
            if scores is None:
                scores = self.scores(user, region, device, ts)
            s = scores.astype(np.float64)
            if st is not None and st.n_finished:
                allowed[self.users.finished_rows(st)] = False
            s[~allowed] = -np.inf
            n_ok = int(allowed.sum())
            if n_ok == 0:
                return []
            k = min(k, n_ok)
            top = diverse_top_k(s, self.catalog.genres, k) if cold else top_k(s, k)
            wanted = explore and self.explore_slots > 0 and k >= 5  # else _explore keeps `top`
            fresh = self._fresh_rows(allowed, top) if wanted else top[:0]
        if explore:
            top = self._explore(top, fresh, st, user, k)
        ids = self.catalog.ids
        return [(ids[r], float(s[r])) for r in top]

    def _cold_list(
        self, n: int, region: str, device: str, ts: float | None, allowed: np.ndarray, k: int
    ) -> ColdList:
        s = self._cold_scores(n, region, device, ts).astype(np.float64)
        s[~allowed] = -np.inf
        n_ok = int(allowed.sum())
        top = diverse_top_k(s, self.catalog.genres, min(k, n_ok)) if n_ok else np.zeros(0, int)
        return ColdList(self.updates, s, allowed.copy(), top, self._fresh_rows(allowed, top))

    def _fresh_rows(self, allowed: np.ndarray, top: np.ndarray) -> np.ndarray:
        """Rows the exploration slot may take: fresh titles not already in ``top``."""
        n = allowed.shape[0]
        cat = self.catalog
        fresh = (
            allowed
            & cat.known[:n]
            & (self.plays[:n] < self.fresh_plays)
            & (cat.release_ts[:n] >= self.trend.t_last - self.fresh_window_s)
        )
        fresh[top] = False
        return np.flatnonzero(fresh)

    def _explore(
        self,
        top: np.ndarray,
        rows: np.ndarray,
        st: UserState | None,
        user: UserId,
        k: int,
    ) -> np.ndarray:
        if self.explore_slots <= 0 or k < 5 or not rows.size:
            return top
        last = st.last_ts if st is not None else 0.0
        rng = np.random.default_rng([self.seed, stable_hash(user), int(last)])
        prio = rng.random(rows.shape[0])
        if st is not None and st.genre.size:
            g = self.catalog.genres[rows][:, : st.genre.shape[0]]
            prio += g @ st.genre / (float(st.genre.sum()) or 1.0)
        m = min(self.explore_slots, rows.shape[0], k - 1)
        picks = rows[np.argsort(-prio, kind="stable")[:m]]
        return np.concatenate([top[: k - m], picks])

    def similar(self, item: ItemId, k: int = 10, region: str = "") -> list[tuple[ItemId, float]]:
        """Titles most co-visited with `item` (cosine-normalised), best first."""
        r = self.catalog.row(item)
        n = len(self.catalog)
        if r < 0:
            return []
        s = self.covis.neighbours(r, n).astype(np.float64)
        allowed = self.catalog.available(region) & (s > 0)
        allowed[r] = False
        s[~allowed] = -np.inf
        k = min(k, int(allowed.sum()))
        if k <= 0:
            return []
        ids = self.catalog.ids
        return [(ids[j], float(s[j])) for j in top_k(s, k)]

    def predict_one(self, user: UserId, item: ItemId) -> float:
        """Blended score of one (viewer, title) pair; River-style read, never mutates."""
        r = self.catalog.row(item)
        if r < 0:
            return 0.0
        return float(self.scores(user)[r])

    def item_mask(self, items: Iterable[ItemId]) -> np.ndarray:
        """Boolean mask over catalogue rows that is True for `items` (for `recommend(mask=)`)."""
        m = np.zeros(len(self.catalog), dtype=bool)
        rows = self.catalog.rows_of(items)
        m[rows] = True
        return m
