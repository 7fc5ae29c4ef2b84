"""Small synthetic viewing worlds for the recommendation tests (no external data)."""

import numpy as np
import pytest

from services.recommendation.model import Feedback, Recommender, UserStore


def synthetic_events(n_users=60, n_items=40, per_user=8, seed=0):
    """Viewers walk runs of consecutive titles (item k is followed by k+1), like a UI list."""
    rng = np.random.default_rng(seed)
    events = []
    t = 1_000_000.0
    for u in range(n_users):
        start = int(rng.integers(0, n_items - per_user))
        for j in range(per_user):
            t += 60.0
            events.append(Feedback(f"u{u}", f"m{start + j}", "complete", t, 1.0))
    return events


@pytest.fixture
def events():
    return synthetic_events()


@pytest.fixture
def trained(events):
    rec = Recommender(users=UserStore(max_users=1000), seed=3)
    for fb in events:
        rec.learn_one(fb)
    return rec
