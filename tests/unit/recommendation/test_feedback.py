"""Feedback mapping: action kinds and fractions to signed implicit weights."""

import pytest

from services.recommendation.model import Feedback, implicit_weight, is_consumption, is_finished


def w(kind, progress=0.0, rating=None):
    return implicit_weight(Feedback("u", "m", kind, 0.0, progress, rating))


def test_watch_depth_orders_weights():
    assert w("complete") > w("stop", 0.9) > w("stop", 0.6) > w("stop", 0.3) > 0


def test_quick_skip_is_negative_and_worse_than_late_skip():
    assert w("skip", 0.02) < w("skip", 0.5) <= 0
    assert w("stop", 0.01) < 0


def test_unclicked_impression_is_weak_negative():
    assert w("skip", 0.02) < w("impression") < 0
    assert abs(w("impression")) < 0.2
    assert w("click") > 0


@pytest.mark.parametrize(
    ("rating", "expected"), [(5, 1.0), (4, 0.5), (3, 0.0), (2, -0.5), (1, -1.0)]
)
def test_rating_is_scaled_linearly(rating, expected):
    assert w("rating", rating=float(rating)) == pytest.approx(expected)


def test_consumption_and_finishing():
    assert is_consumption(Feedback("u", "m", "rating", 0.0, rating=1.0))
    assert is_consumption(Feedback("u", "m", "play", 0.0, progress=0.3))
    assert not is_consumption(Feedback("u", "m", "impression", 0.0))
    assert not is_consumption(Feedback("u", "m", "skip", 0.0, progress=0.01))
    assert is_finished(Feedback("u", "m", "complete", 0.0))
    assert not is_finished(Feedback("u", "m", "stop", 0.0, progress=0.4))


def test_skips_and_early_stops_are_rejections_watches_are_not():
    from services.recommendation.model import is_rejected

    def rej(kind, progress=0.0, rating=None):
        return is_rejected(Feedback("u", "m", kind, 0.0, progress, rating))

    assert rej("skip", 0.02) and rej("skip", 0.5) and rej("stop", 0.05)
    assert not rej("stop", 0.3) and not rej("complete") and not rej("rating", rating=1.0)
    assert not rej("play") and not rej("impression")
