"""The simulated catalogue: titles with genres, hidden latent factors, durations, releases, regions.

The generator also plays the content-management system: :meth:`Catalog.to_proto`
is the ``catalog.v1.Title`` record published for each title (the latent factors
and quality stay hidden: only viewers' behaviour reveals them).

>>> import numpy as np
>>> cat = Catalog.generate(200, np.random.default_rng(1), start_s=1e9, span_s=86_400 * 10)
>>> len(cat), cat.genres.shape[1] == len(GENRES)
(200, True)
>>> bool((cat.genres.sum(1) >= 1).all()), bool((cat.duration_s > 0).all())
(True, True)
>>> t = cat.to_proto(0)
>>> t.title_id, len(t.genres) >= 1
('title-00000', True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelstream.catalog.v1 import catalog_pb2
from reelstream.common.v1 import types_pb2

GENRES = (
    "action",
    "adventure",
    "animation",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "family",
    "fantasy",
    "history",
    "horror",
    "music",
    "mystery",
    "romance",
    "scifi",
    "thriller",
    "war",
    "western",
)
GENRE_WEIGHTS = np.array([8, 5, 4, 10, 6, 3, 12, 4, 4, 2, 4, 2, 4, 6, 5, 7, 1, 1], dtype=float)
REGIONS = ("US", "GB", "DE", "FR", "NO", "SE", "BR", "IN", "JP", "ES")
REGION_WEIGHTS = np.array([30, 10, 9, 8, 3, 3, 12, 14, 6, 5], dtype=float)
MATURITIES = (
    types_pb2.MATURITY_KIDS,
    types_pb2.MATURITY_FAMILY,
    types_pb2.MATURITY_TEEN,
    types_pb2.MATURITY_ADULT,
)
FACTORS = 8
LATENT_SD = 1.0  # sd of the user-title latent dot product: the part only co-viewing reveals
DAY_S = 86_400.0


@dataclass
class Catalog:
    """Titles as parallel arrays indexed by title row."""

    ids: list[str]
    genres: np.ndarray  # (n, G) float 0/1
    factors: np.ndarray  # (n, k) hidden latent factors
    quality: np.ndarray  # (n,) hidden quality, shifts every viewer's taste
    buzz: np.ndarray  # (n,) marketing prior: what a default list shows
    duration_s: np.ndarray
    release_s: np.ndarray  # epoch seconds (simulated time)
    maturity: np.ndarray  # (n,) Maturity enum value
    region_ok: np.ndarray  # (n, R) bool: available in region r
    everywhere: np.ndarray  # (n,) bool: no regional restriction
    series: list[str]  # "" for films

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def generate(
        cls,
        n: int,
        rng: np.random.Generator,
        *,
        start_s: float,
        span_s: float,
        new_share: float = 0.03,
    ) -> Catalog:
        """``n`` titles; ``new_share`` of them released during ``[start_s, start_s + span_s]``."""
        g_count = len(GENRES)
        # Gumbel top-k draws 1-3 distinct genres per title, weighted by genre popularity.
        keys = np.log(GENRE_WEIGHTS / GENRE_WEIGHTS.sum()) + rng.gumbel(size=(n, g_count))
        order = np.argsort(-keys, axis=1)
        n_genres = rng.choice([1, 2, 3], size=n, p=[0.4, 0.4, 0.2])
        genres = np.zeros((n, g_count))
        rows = np.arange(n)
        for j in range(3):
            take = n_genres > j
            genres[rows[take], order[take, j]] = 1.0
        factors = rng.normal(0.0, (LATENT_SD / np.sqrt(FACTORS)) ** 0.5, size=(n, FACTORS))
        quality = rng.normal(0.0, 0.2, size=n)
        # Episodes: consecutive titles of a series share genres, factors and quality.
        is_episode = np.zeros(n, dtype=bool)
        series = [""] * n
        i = 0
        while i < n:
            if rng.random() < 0.08:  # a series of several episodes starts here
                length = min(int(rng.integers(4, 11)), n - i)
                head = i
                sid = f"series-{head:05d}"
                for j in range(i, i + length):
                    series[j] = sid
                    genres[j] = genres[head]
                    factors[j] = factors[head] + rng.normal(0, 0.05, FACTORS)
                    quality[j] = quality[head]
                    is_episode[j] = True
                i += length
            else:
                i += 1
        duration = np.where(
            is_episode, rng.uniform(22, 60, n) * 60.0, rng.uniform(80, 150, n) * 60.0
        ).round()
        buzz = quality + rng.normal(0.0, 0.8, n)
        age_days = rng.exponential(900.0, n) + 1.0
        release = start_s - age_days * DAY_S
        new = rng.random(n) < new_share
        release[new] = start_s + rng.uniform(0.0, span_s, int(new.sum()))
        maturity = np.asarray(MATURITIES)[rng.choice(4, size=n, p=[0.1, 0.25, 0.3, 0.35])]
        everywhere = rng.random(n) < 0.75
        region_ok = np.ones((n, len(REGIONS)), dtype=bool)
        for t in np.flatnonzero(~everywhere):
            k = int(rng.integers(3, 7))
            picked = rng.choice(len(REGIONS), size=k, replace=False, p=REGION_WEIGHTS / 100.0)
            region_ok[t] = False
            region_ok[t, picked] = True
        ids = [f"title-{i:05d}" for i in range(n)]
        return cls(
            ids, genres, factors, quality, buzz, duration, release, maturity, region_ok,
            everywhere, series,
        )  # fmt: skip

    def to_proto(self, i: int) -> catalog_pb2.Title:
        """The CMS record for title row ``i``."""
        genre_names = [GENRES[g] for g in np.flatnonzero(self.genres[i])]
        regions = (
            [] if self.everywhere[i] else [REGIONS[r] for r in np.flatnonzero(self.region_ok[i])]
        )
        return catalog_pb2.Title(
            title_id=self.ids[i],
            name=f"{genre_names[0].title()} Story {i}",
            genres=genre_names,
            duration_s=float(self.duration_s[i]),
            release_time_ms=int(self.release_s[i] * 1000),
            regions=regions,
            maturity=int(self.maturity[i]),  # type: ignore[arg-type]
            series_id=self.series[i],
        )

    def released_in(self, lo_s: float, hi_s: float) -> np.ndarray:
        """Rows released in ``(lo_s, hi_s]`` (``lo_s = -inf`` for everything released so far)."""
        return np.flatnonzero((self.release_s > lo_s) & (self.release_s <= hi_s))

    def watchable(self, region: int, max_maturity: int, now_s: float) -> np.ndarray:
        """Bool mask of titles this viewer may play now (released, in region, maturity)."""
        return (
            self.region_ok[:, region] & (self.maturity <= max_maturity) & (self.release_s <= now_s)
        )

    def default_list(self, region: int, max_maturity: int, now_s: float, k: int) -> np.ndarray:
        """The app's built-in fallback row: the ``k`` most promoted watchable titles."""
        ok = self.watchable(region, max_maturity, now_s)
        score = np.where(ok, self.buzz, -np.inf)
        k = min(k, int(ok.sum()))
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        top = np.argpartition(-score, k - 1)[:k]
        return top[np.argsort(-score[top])]
