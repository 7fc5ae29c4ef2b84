"""The learned home screen: rows in a fixed order, each title at most once, every row filtered.

A viewer looks at the first rows and the first slots of each far more than at
the rest (position bias), so a screen is worth the number of *different*, good,
playable titles near its top-left. Hence three rules the row helpers alone do
not give: a title placed in one row is excluded from every later row; the
request's filter (maturity, genres, region) applies to every row, not only to
the ranked ones; and when the specialised rows run out (a new viewer has no
history, no genres, nothing to continue), the screen is filled with the next
titles of the viewer's own ranking rather than left short.

>>> from services.recommendation.model import Feedback, Recommender
>>> rec = Recommender(explore_slots=0)
>>> for k in range(30):
...     rec.add_item(f"t{k}", genres=["Drama" if k % 2 else "Comedy"], release_ts=-1e9)
>>> for k in range(12):
...     rec.learn_one(Feedback(f"u{k}", f"t{k}", "complete", float(k)))
>>> screen = home_rows(rec, "new-viewer", per_row=5, max_rows=4)
>>> [r.kind for r in screen]
['top', 'top', 'trending', 'top']
>>> ids = [i for r in screen for i, _ in r.items]
>>> len(ids) == len(set(ids))  # each title once; trending keeps only what top rows left
True
>>> [len(r.items) for r in screen]
[5, 5, 2, 5]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.recommendation.model.catalog import ItemId
from services.recommendation.model.ranking import top_k
from services.recommendation.model.recommender import Recommender
from services.recommendation.model.rows import continue_watching, genre_affinity
from services.recommendation.model.users import UserId

FRESH_WINDOW_S = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class HomeRow:
    """One row: its kind, what it is about (seed title, genre, region or rank), its titles."""

    kind: str  # "continue", "top", "byw", "new", "trending" or "genre"
    about: str
    items: list[tuple[ItemId, float]]


class _Screen:
    """The rows placed so far and the rows of titles still free to place."""

    def __init__(self, rec: Recommender, allowed: np.ndarray, max_rows: int) -> None:
        self.rec = rec
        self.free = allowed.copy()
        self.rows: list[HomeRow] = []
        self.max_rows = max_rows

    def full(self) -> bool:
        return len(self.rows) >= self.max_rows

    def add(self, kind: str, about: str, items: list[tuple[ItemId, float]]) -> None:
        if items and not self.full():
            self.rows.append(HomeRow(kind, about, items))
            self.free[self.rec.catalog.rows_of(i for i, _ in items)] = False

    def best(self, scores: np.ndarray, k: int) -> list[tuple[ItemId, float]]:
        """The k free titles of highest positive score."""
        s = np.where(self.free & (scores > 0), scores, -np.inf)
        k = min(k, int(np.isfinite(s).sum()))
        ids = self.rec.catalog.ids
        return [(ids[r], float(s[r])) for r in top_k(s, k)] if k > 0 else []


def home_rows(
    rec: Recommender,
    user: UserId,
    per_row: int = 10,
    max_rows: int = 6,
    region: str = "",
    device: str = "",
    mask: np.ndarray | None = None,
) -> list[HomeRow]:
    """Up to `max_rows` rows of up to `per_row` distinct titles for `user`, best rows first.

    Order: continue watching; top picks; because you watched (the last title);
    more top picks; new for you; because you watched (the title before);
    trending in the region; the viewer's top genres; then more top picks until
    the screen is full. `mask` (over catalogue rows) and `region` restrict
    every row. A read: nothing in `rec` changes.
    """
    n = len(rec.catalog)
    if n == 0 or per_row <= 0 or max_rows <= 0:
        return []
    st = rec.users.get(user)
    region = region or (st.region if st else "")
    device = device or (st.device if st else "")
    allowed = rec.catalog.available(region)
    if mask is not None:
        allowed &= mask[:n]
    if st is not None and st.n_finished:
        allowed[rec.users.finished_rows(st)] = False
    screen = _Screen(rec, allowed, max_rows)
    s = rec.scores(user, region, device)  # one scoring pass; each row ranks it under a mask
    cw = [
        (i, p)
        for i, p in continue_watching(rec, user, 4 * per_row)
        if allowed[rec.catalog.index[i]]
    ]
    screen.add("continue", "", cw[:per_row])

    def ranked(
        kind: str, about: str, within: np.ndarray | None = None, explore: bool = False
    ) -> None:
        # One scoring pass for the screen; each ranked row takes the best titles still free.
        mask = screen.free if within is None else screen.free & within
        items = rec.recommend(
            user, per_row, mask=mask, region=region, device=device, explore=explore, scores=s
        )
        screen.add(kind, about, items)

    def top(explore: bool = False) -> None:
        ranked("top", str(len(screen.rows)), explore=explore)

    def byw(j: int) -> None:
        if st is not None and st.recent.size > j:
            r = int(st.recent[j])
            screen.add(
                "byw", str(rec.catalog.ids[r]), screen.best(rec.covis.neighbours(r, n), per_row)
            )

    top(explore=True)
    byw(0)
    top()
    fresh = rec.catalog.known[:n] & (
        rec.catalog.release_ts[:n] >= rec.trend.t_last - FRESH_WINDOW_S
    )
    if fresh.any():
        ranked("new", "", fresh)
    byw(1)
    trend = rec._trending_scores(n, region, device, None)
    screen.add("trending", region, screen.best(trend, per_row))
    genres = rec.catalog.genres
    for g, _ in sorted(genre_affinity(rec, user).items(), key=lambda kv: -kv[1])[:3]:
        ranked("genre", g, genres[:n, rec.catalog.genre_index[g]] > 0)
    while not screen.full() and screen.free.any():
        before = len(screen.rows)
        top()
        if len(screen.rows) == before:
            break
    return screen.rows
