"""The learned home screen: distinct titles, the filter on every row, a full screen."""

import pickle

from services.recommendation.model import Feedback, Recommender
from services.recommendation.model.home import home_rows

from .conftest import synthetic_events


def world():
    rec = Recommender(seed=1)
    for k in range(40):
        rec.add_item(f"m{k}", genres=["Comedy" if k % 2 else "Drama"], release_ts=-1e9)
    for fb in synthetic_events():
        rec.learn_one(fb)
    return rec


def flat(screen):
    return [i for row in screen for i, _ in row.items]


def test_each_title_appears_once_and_the_screen_is_full():
    rec = world()
    for user in ("u3", "nobody"):
        screen = home_rows(rec, user, per_row=5, max_rows=6)
        assert len(screen) == 6
        assert all(0 < len(row.items) <= 5 for row in screen)
        got = flat(screen)
        assert len(got) == len(set(got))


def test_a_known_viewer_gets_continue_top_and_because_you_watched_in_order():
    rec = world()
    rec.learn_one(Feedback("u3", "m30", "stop", 2e6, progress=0.4))
    kinds = [row.kind for row in home_rows(rec, "u3", per_row=5, max_rows=4)]
    assert kinds[:3] == ["continue", "top", "byw"]
    assert home_rows(rec, "u3", per_row=5, max_rows=4)[0].items[0][0] == "m30"


def test_the_mask_holds_in_every_row():
    rec = world()
    banned = {f"m{k}" for k in range(0, 40, 3)}
    mask = ~rec.item_mask(banned)
    for user in ("u3", "u7", "nobody"):
        screen = home_rows(rec, user, per_row=5, max_rows=8, mask=mask)
        assert {row.kind for row in screen} > {"top"}  # not only the ranked rows
        assert not banned & set(flat(screen))


def test_finished_titles_never_show_and_reads_do_not_mutate():
    rec = world()
    seen = {fb.item for fb in synthetic_events() if fb.user == "u5"}
    snap = pickle.dumps(rec)
    screen = home_rows(rec, "u5", per_row=5, max_rows=6)
    assert not seen & set(flat(screen))
    assert pickle.dumps(rec) == snap
