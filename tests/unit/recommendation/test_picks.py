"""What the model learns from screens: genre affinity, skip-above picks, rejected titles."""

import pickle

import numpy as np

from services.recommendation.model import Feedback, Recommender


def genre_world(rec, n=20):
    """Half comedies (c*), half dramas (d*); dramas are the popular ones."""
    for k in range(n):
        rec.add_item(f"c{k}", genres=["Comedy"])
        rec.add_item(f"d{k}", genres=["Drama"])
    t = 0.0
    for u in range(30):
        for k in range(3):
            t += 1.0
            rec.learn_one(Feedback(f"crowd{u}", f"d{(u + k) % n}", "complete", t))
    return t


def ids(recs):
    return [i for i, _ in recs]


def test_genre_signal_ranks_the_viewers_genres_first():
    rec = Recommender(signals=("genre",), explore_slots=0)
    t = genre_world(rec)
    for k in range(3):
        rec.learn_one(Feedback("fan", f"c{k}", "complete", t + k))
    got = ids(rec.recommend("fan", 5))
    assert all(i.startswith("c") for i in got)
    assert rec.scores("fan")[rec.catalog.row("d1")] == 0.0


def show(rec, user, items, ts):
    for j, item in enumerate(items):
        rec.learn_one(Feedback(user, item, "impression", ts + 0.01 * j))


def test_a_pick_teaches_the_blender_that_it_beats_titles_above_and_below_it():
    rec = Recommender(explore_slots=0, pick_pairs=4)
    rec.blender.warmup = 1
    t = genre_world(rec)
    for k in range(3):
        rec.learn_one(Feedback("fan", f"c{k}", "complete", t + k))
    before = rec.blender.n_updates
    t += 1000.0
    show(rec, "fan", ["d0", "d1", "d4", "c5", "d2", "d3", "d5"], t)
    rec.learn_one(Feedback("fan", "c5", "click", t + 5))
    assert rec.blender.n_updates == before + 4  # two of the three above, the two right below
    fan = rec.users.get("fan")
    assert fan is not None and fan.shown.size == 0  # one screen, one lesson
    rec.learn_one(Feedback("fan", "c5", "play", t + 6))
    assert rec.blender.n_updates == before + 4
    genre = rec.signals.index("genre")
    pop = rec.signals.index("popularity")
    for s in range(40):  # the fan keeps passing over popular dramas for comedies
        t += 1000.0
        show(rec, "fan", [f"d{s % 20}", f"d{(s + 1) % 20}", f"c{6 + s % 14}"], t)
        rec.learn_one(Feedback("fan", f"c{6 + s % 14}", "click", t + 5))
    assert rec.blender.weights[genre] > 0 > rec.blender.weights[pop]


def test_a_pick_from_an_old_screen_teaches_nothing():
    rec = Recommender(explore_slots=0)
    rec.blender.warmup = 1
    t = genre_world(rec)
    rec.learn_one(Feedback("fan", "c0", "complete", t))
    show(rec, "fan", ["d0", "c5"], t + 10)
    show(rec, "fan", ["c7", "c8"], t + 5000)  # a new screen, hours later
    before = rec.blender.n_updates
    rec.learn_one(Feedback("fan", "c5", "click", t + 5001))
    assert rec.blender.n_updates == before
    fan = rec.users.get("fan")
    assert fan is not None and fan.shown.tolist() == []


def test_a_skipped_title_is_not_recommended_again():
    rec = Recommender(explore_slots=0)
    t = genre_world(rec)
    rec.learn_one(Feedback("v", "d3", "complete", t))
    top = ids(rec.recommend("v", 3))[0]
    rec.learn_one(Feedback("v", top, "skip", t + 10, progress=0.02))
    assert top not in ids(rec.recommend("v", 40))


def test_screens_survive_pickling_and_reads_do_not_touch_them():
    rec = Recommender()
    t = genre_world(rec)
    show(rec, "v", ["d0", "c1"], t)
    snap = pickle.dumps(rec)
    rec.recommend("v", 5)
    assert pickle.dumps(rec) == snap
    clone = pickle.loads(snap)
    restored, original = clone.users.get("v"), rec.users.get("v")
    assert restored is not None and original is not None
    np.testing.assert_array_equal(restored.shown, original.shown)


def test_a_viewer_without_history_gets_titles_viewers_pick_over_their_neighbours():
    rec = Recommender(explore_slots=0, cold_refresh=0)  # cold lists follow every update
    t = genre_world(rec)
    base = ids(rec.recommend("newcomer", 3))
    assert "c5" not in base  # never played: trending does not know it
    for s in range(20):
        t += 1000.0
        show(rec, f"v{s}", ["d0", "d1", "c5"], t)
        rec.learn_one(Feedback(f"v{s}", "c5", "click", t + 5))
    assert ids(rec.recommend("newcomer", 3))[0] == "c5"
    assert rec.users.get("newcomer") is None
