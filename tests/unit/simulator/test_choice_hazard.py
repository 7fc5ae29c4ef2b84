"""The choice model follows hidden taste; the hazard rises with poor relevance and quality."""

import numpy as np

from services.simulator.catalog import Catalog
from services.simulator.choice import ChoiceModel, WatchModel
from services.simulator.hazard import HazardModel, Recent
from services.simulator.population import Population, taste


def world(seed: int = 0):
    rng = np.random.default_rng(seed)
    cat = Catalog.generate(600, rng, start_s=1e9, span_s=1e6)
    pop = Population.generate(40, rng)
    return rng, cat, pop


def test_viewers_pick_what_matches_their_hidden_taste():
    rng, cat, pop = world()
    model = ChoiceModel()
    picked, shown = [], []
    for u in range(len(pop)):
        for _ in range(30):
            items = rng.choice(len(cat), size=40, replace=False)
            t = taste(pop, cat, u, items)
            rows, pos = np.repeat(np.arange(4), 10), np.tile(np.arange(10), 4)
            pick = model.choose(rng, t, rows, pos, float(pop.pickiness[u]))
            shown.append(t.mean())
            if pick is not None:
                picked.append(t[pick])
    assert len(picked) > 0.5 * len(shown)
    # What gets picked is much better liked than what is shown on average.
    assert np.mean(picked) > np.mean(shown) + 0.5


def test_a_row_of_well_matched_titles_wins_more_visits():
    rng, cat, pop = world(1)
    model = ChoiceModel()
    found = {"good": 0, "poor": 0}
    for u in range(len(pop)):
        t_all = taste(pop, cat, u, np.arange(len(cat)))
        order = np.argsort(-t_all)
        for name, items in (("good", order[:10]), ("poor", order[-10:])):
            for _ in range(20):
                t = t_all[items]
                if (
                    model.choose(rng, t, np.zeros(10), np.arange(10), float(pop.pickiness[u]))
                    is not None
                ):
                    found[name] += 1
    assert found["good"] > 3 * max(found["poor"], 1)


def test_examination_is_position_biased():
    rng = np.random.default_rng(2)
    model = ChoiceModel()
    counts = np.zeros(10)
    for _ in range(4000):
        pick = model.choose(rng, np.ones(10), np.zeros(10), np.arange(10), -10.0)
        counts[pick] += 1
    assert counts[0] > counts[4] > counts[9]


def test_unplayable_titles_are_never_picked():
    rng = np.random.default_rng(3)
    model = ChoiceModel(row_decay=1.0, pos_decay=1.0)
    t = np.array([5.0, -np.inf, 0.0])
    t[0] = -np.inf
    picks = {model.choose(rng, t, np.zeros(3), np.arange(3), -5.0) for _ in range(200)}
    assert picks == {2}


def test_watch_length_follows_taste():
    rng = np.random.default_rng(4)
    wm = WatchModel()
    liked = [wm.plan(rng, 1.5, 3600.0, 0.0, 1e9) for _ in range(500)]
    disliked = [wm.plan(rng, -1.0, 3600.0, 0.0, 1e9) for _ in range(500)]
    assert np.mean([p.stop_at_s for p in liked]) > 2 * np.mean([p.stop_at_s for p in disliked])
    assert sum(p.end_kind == "skip" for p in disliked) > 5 * sum(
        p.end_kind == "skip" for p in liked
    )
    budget = wm.plan(rng, 3.0, 3600.0, 0.0, 600.0)
    assert budget.stop_at_s == 600.0 and budget.end_kind == "stop"


def test_stalls_make_viewers_quit():
    rng = np.random.default_rng(5)
    wm = WatchModel()
    assert not any(wm.quits_after_stall(rng, 0.0) for _ in range(1000))
    short = np.mean([wm.quits_after_stall(rng, 0.5) for _ in range(4000)])
    long = np.mean([wm.quits_after_stall(rng, 8.0) for _ in range(4000)])
    assert 0.0 < short < long


def test_hazard_rises_with_poor_relevance_and_quality():
    h = HazardModel()
    n = 5
    base = dict(
        taste=np.full(n, 0.5), found=np.full(n, 0.7), rebuffer_ratio=np.zeros(n),
        bitrate_kbps=np.full(n, 3000.0),
    )  # fmt: skip
    ref = h.daily(**base)
    assert np.allclose(ref, h.base_per_day)
    worse = {
        "taste": np.linspace(0.5, -1.0, n),
        "found": np.linspace(0.7, 0.1, n),
        "rebuffer_ratio": np.linspace(0.0, 0.08, n),
        "bitrate_kbps": np.linspace(3000.0, 300.0, n),
    }
    for key, values in worse.items():
        hz = h.daily(**{**base, key: values})
        assert (np.diff(hz) > 0).all(), key
    everything_bad = h.daily(**worse)
    assert everything_bad[-1] > 10 * ref[-1]
    assert everything_bad.max() <= h.max_per_day


def test_recent_experience_moves_the_hazard():
    h = HazardModel()
    recent = Recent(2, h)
    for _ in range(20):
        recent.visit(0, found=True)
        recent.viewing(0, taste=1.2, rebuffer_ratio=0.0, bitrate_kbps=4300.0)
        recent.visit(1, found=False)
        recent.viewing(1, taste=-0.5, rebuffer_ratio=0.05, bitrate_kbps=750.0)
    good, bad = recent.hazard(h, np.array([0, 1]))
    assert good < h.base_per_day < bad
