"""Home-screen rows built from a Recommender's read-only views."""

from __future__ import annotations

import numpy as np

from services.recommendation.model.catalog import ItemId
from services.recommendation.model.ranking import top_k
from services.recommendation.model.recommender import Recommender
from services.recommendation.model.users import UserId


def continue_watching(rec: Recommender, user: UserId, k: int = 10) -> list[tuple[ItemId, float]]:
    """The viewer's unfinished titles with their progress fraction, most recent first."""
    st = rec.users.get(user)
    if st is None:
        return []
    ids = rec.catalog.ids
    return [(ids[r], p) for r, p in reversed(st.progress.items())][:k]


def because_you_watched(
    rec: Recommender, user: UserId, n_rows: int = 2, k: int = 10, region: str = ""
) -> list[tuple[ItemId, list[tuple[ItemId, float]]]]:
    """("Because you watched X", similar titles) for the viewer's most recent titles."""
    st = rec.users.get(user)
    if st is None:
        return []
    seen = set(rec.users.finished_rows(st).tolist()) | set(st.recent.tolist())
    ids = rec.catalog.ids
    rows = []
    for r in st.recent[:n_rows].tolist():
        sims = rec.similar(ids[r], k + len(seen), region)
        sims = [(i, s) for i, s in sims if rec.catalog.index[i] not in seen][:k]
        if sims:
            rows.append((ids[r], sims))
    return rows


def trending(
    rec: Recommender, region: str = "", k: int = 10, device: str = ""
) -> list[tuple[ItemId, float]]:
    """Decayed popularity for a region (and device), among titles available there."""
    n = len(rec.catalog)
    s = rec._trending_scores(n, region, device, None).astype(np.float64)
    ok = rec.catalog.available(region) & (s > 0)
    s[~ok] = -np.inf
    k = min(k, int(ok.sum()))
    return [(rec.catalog.ids[r], float(s[r])) for r in top_k(s, k)] if k > 0 else []


def genre_affinity(rec: Recommender, user: UserId) -> dict[str, float]:
    """The viewer's decayed genre affinity, normalised to sum 1 (empty if unknown)."""
    st = rec.users.get(user)
    if st is None or not st.genre.size or st.genre.sum() <= 0:
        return {}
    total = float(st.genre.sum())
    return {
        g: float(st.genre[c]) / total
        for g, c in rec.catalog.genre_index.items()
        if c < st.genre.shape[0] and st.genre[c] > 0
    }


def trending_genres(rec: Recommender, region: str = "") -> dict[str, float]:
    """The genre mix of what is watched lately in `region`, normalised to sum 1.

    What a viewer without history is shown instead of their own genres: the
    audience's revealed taste, not the catalogue's size per genre.
    """
    n = len(rec.catalog)
    s = rec._trending_scores(n, region, "", None)
    if not n or s.sum() <= 0:
        return {}
    share = (s / s.sum()) @ rec.catalog.genres[:n]
    return {g: float(share[c]) for g, c in rec.catalog.genre_index.items() if share[c] > 0}


def genre_rows(
    rec: Recommender, user: UserId, n_rows: int = 3, k: int = 10, region: str = ""
) -> list[tuple[str, list[tuple[ItemId, float]]]]:
    """(genre, personalised titles of that genre) for the viewer's top genres.

    A viewer with no genres yet gets the genres trending in their region, so a
    new viewer's screen is not three rows short.
    """
    st = rec.users.get(user)
    aff = genre_affinity(rec, user) or trending_genres(rec, region or (st.region if st else ""))
    n = len(rec.catalog)
    out = []
    for g, _ in sorted(aff.items(), key=lambda kv: -kv[1])[:n_rows]:
        mask = rec.catalog.genres[:n, rec.catalog.genre_index[g]] > 0
        items = rec.recommend(user, k, mask=mask, region=region)
        if items:
            out.append((g, items))
    return out
