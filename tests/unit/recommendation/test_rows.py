"""Home-screen row helpers: continue watching, because you watched, trending, genres."""

from services.recommendation.model import Feedback, Recommender
from services.recommendation.model.rows import (
    because_you_watched,
    continue_watching,
    genre_affinity,
    genre_rows,
    trending,
)


def make():
    rec = Recommender()
    for k in range(12):
        rec.add_item(f"c{k}", genres=["Comedy"])
        rec.add_item(f"d{k}", genres=["Drama"])
    t = 0.0
    for u in range(10):
        for k in range(6):
            t += 10.0
            g = "c" if u % 2 else "d"
            rec.learn_one(Feedback(f"u{u}", f"{g}{k + u % 3}", "complete", t, region="FR"))
    return rec


def test_continue_watching_lists_unfinished_most_recent_first():
    rec = make()
    rec.learn_one(Feedback("me", "c1", "stop", 1e4, progress=0.3))
    rec.learn_one(Feedback("me", "d2", "stop", 1e4 + 1, progress=0.6))
    rec.learn_one(Feedback("me", "c3", "stop", 1e4 + 2, progress=0.2))
    rec.learn_one(Feedback("me", "c3", "complete", 1e4 + 3))
    assert continue_watching(rec, "me") == [("d2", 0.6), ("c1", 0.3)]
    assert continue_watching(rec, "ghost") == []


def test_because_you_watched_uses_recent_titles_and_skips_seen():
    rec = make()
    rows = because_you_watched(rec, "u1", n_rows=2, k=3)
    assert rows
    seed, items = rows[0]
    assert seed == "c6"  # u1's last title
    assert all(str(i).startswith("c") for i, _ in items)
    assert not {i for i, _ in items} & {f"c{k + 1}" for k in range(6)}


def test_trending_is_per_region():
    rec = make()
    for t in range(5):
        rec.learn_one(Feedback(f"de{t}", "d11", "complete", 2e3 + t, region="DE"))
    assert trending(rec, "DE", 1)[0][0] == "d11"
    assert trending(rec, "FR", 1)[0][0] != "d11"


def test_genre_affinity_and_rows():
    rec = make()
    aff = genre_affinity(rec, "u1")
    assert max(aff, key=lambda g: aff[g]) == "Comedy"
    rows = genre_rows(rec, "u1", n_rows=1, k=3)
    assert rows[0][0] == "Comedy"
    assert all(str(i).startswith("c") for i, _ in rows[0][1])


def test_a_viewer_without_genres_gets_the_regions_trending_genres():
    rec = make()
    for t in range(8):
        rec.learn_one(Feedback(f"fr{t}", f"c{t}", "complete", 3e3 + t, region="FR"))
    rows = genre_rows(rec, "newcomer", n_rows=2, k=3, region="FR")
    assert [g for g, _ in rows] == ["Comedy", "Drama"]
    assert all(str(i).startswith("c") for i, _ in rows[0][1])
    assert rec.users.get("newcomer") is None
