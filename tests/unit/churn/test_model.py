"""The online churn model: learning from delayed labels, serving, pickling, reads without mutation."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from services.churn.candidates import CompiledLinear, OnlinePlatt, linear
from services.churn.labels import DAY_S, DelayedLabeler
from services.churn.model import ChurnModel

NAMES = ("minutes_ratio_7d_28d", "rebuffer_ratio_7d", "sessions_7d", "ctr_28d", "tenure_days")


def features(rng: random.Random, risky: bool) -> dict[str, float]:
    return {
        "minutes_ratio_7d_28d": rng.gauss(-0.8 if risky else 0.0, 0.3),
        "rebuffer_ratio_7d": abs(rng.gauss(0.05 if risky else 0.005, 0.01)),
        "sessions_7d": float(rng.randint(0, 3) if risky else rng.randint(3, 10)),
        "ctr_28d": rng.uniform(0, 0.3),
        "tenure_days": rng.uniform(0, 400),
    }


def trained(
    seed: int = 0, users: int = 300, days: int = 80, calibrate: tuple[str, ...] = ()
) -> ChurnModel:
    """Users snapshot weekly; risky ones cancel 10-40 days in (labels arrive late)."""
    rng = random.Random(seed)
    m = ChurnModel(
        labeler=DelayedLabeler(horizon_s=30 * DAY_S, lateness_s=DAY_S, min_gap_s=7 * DAY_S),
        select_every=200,
        calibrate=calibrate,
    )
    risky = {f"u{i}": rng.random() < 0.3 for i in range(users)}
    cancel_day = {u: 10 + rng.randrange(30) for u in risky}
    gone: set[str] = set()
    for day in range(days):
        now = (day + 1) * DAY_S - 1
        for i, (u, r) in enumerate(risky.items()):
            if u in gone:
                continue
            if r and day == cancel_day[u]:
                m.observe_cancel(u, now - 1)
                gone.add(u)
            elif (day + i) % 7 == 0:
                m.observe(u, now, features(rng, r), unfinished_title="t1")
        m.advance(now)
    return m


@pytest.fixture(scope="module")
def model() -> ChurnModel:
    return trained()


def test_learns_from_delayed_labels(model: ChurnModel) -> None:
    assert model.n_labels > 300 and 0 < model.n_positive < model.n_labels
    met = model.metrics()
    assert met["linear"]["auc"] > 0.8, met
    risky = model.risk("u_risky_probe")
    assert not risky.known  # never seen
    rng = random.Random(5)
    model2 = pickle.loads(pickle.dumps(model))
    model2.observe("probe_hi", 1e9, features(rng, True))
    model2.observe("probe_lo", 1e9, features(rng, False))
    assert model2.risk("probe_hi").probability > model2.risk("probe_lo").probability


def test_pickle_round_trip_gives_identical_predictions(model: ChurnModel) -> None:
    back = pickle.loads(pickle.dumps(model))
    users = list(model._users)[:50]
    assert users
    for u in users:
        assert back.risk(u) == model.risk(u)
    assert back.at_risk(0.0, 0, 20) == model.at_risk(0.0, 0, 20)


def test_reads_never_mutate(model: ChurnModel) -> None:
    before = pickle.dumps(model)
    u = next(iter(model._users))
    model.risk(u)
    model.risk("never-seen-user")
    model.explain(u)
    model.at_risk(0.1)
    model.metrics()
    assert pickle.dumps(model) == before


def test_unseen_user_gets_the_prior(model: ChurnModel) -> None:
    r = model.risk("never-seen-user")
    assert r.probability == pytest.approx(model.prior)
    assert r.updated_at is None and r.factors == () and r.model == "prior"
    # The prior follows the labels seen: smoothed base rate.
    assert abs(model.prior - model.n_positive / model.n_labels) < 0.1


def test_factors_in_words(model: ChurnModel) -> None:
    m = pickle.loads(pickle.dumps(model))
    rng = random.Random(9)
    x = features(rng, True)
    x["rebuffer_ratio_7d"] = 0.2
    m.observe("bad_quality", 1e9, x)
    r = m.risk("bad_quality")
    assert r.known and r.updated_at == 1e9
    phrases = [f.phrase for f in r.factors]
    assert "frequent rebuffering" in phrases
    assert all(f.contribution > 0 for f in r.factors)
    assert r.factors == tuple(sorted(r.factors, key=lambda f: -f.contribution))


def test_at_risk_pages_are_ranked_and_complete(model: ChurnModel) -> None:
    first = model.at_risk(0.0, 0, 7)
    assert first.total == len(model) and first.next_offset == 7
    seen: list[tuple[str, float, float]] = []
    page = first
    while True:
        seen.extend(page.items)
        if page.next_offset is None:
            break
        page = model.at_risk(0.0, page.next_offset, 7)
    assert len(seen) == first.total
    risks = [r for _, r, _ in seen]
    assert risks == sorted(risks, reverse=True)
    hi = model.at_risk(0.5, 0, 1000)
    assert all(r >= 0.5 for _, r, _ in hi.items)


def test_cancel_stops_serving_the_user(model: ChurnModel) -> None:
    m = pickle.loads(pickle.dumps(model))
    u = next(iter(m._users))
    m.observe_cancel(u, 1e12)
    assert not m.risk(u).known


def test_same_seed_same_result() -> None:
    a, b = trained(seed=1, users=60, days=50), trained(seed=1, users=60, days=50)
    assert a.metrics() == b.metrics()
    assert a.at_risk(0.0, 0, 200) == b.at_risk(0.0, 0, 200)


def test_compiled_linear_matches_river() -> None:
    rng = random.Random(2)
    pipe = linear()
    for _ in range(500):
        x = features(rng, rng.random() < 0.3)
        pipe.learn_one(x, x["sessions_7d"] < 3)
    comp = CompiledLinear(pipe)
    for _ in range(200):
        x = features(rng, rng.random() < 0.5)
        assert comp.score(x) == pytest.approx(pipe.predict_proba_one(x)[True], abs=1e-12)
    assert comp.score({"unknown": 1.0}) is None


def test_online_platt_calibrates_an_overconfident_score() -> None:
    rng = random.Random(4)
    cal = OnlinePlatt(lr=0.02)
    for _ in range(20000):
        y = rng.random() < 0.2
        cal.learn(0.9 if y else 0.6, y)  # raw scores far too high
    assert cal.predict(0.6) < 0.2 < cal.predict(0.9)
    assert math.isfinite(cal.a) and math.isfinite(cal.b)


def test_platt_is_learned_always_but_served_only_when_asked(model: ChurnModel) -> None:
    platt = trained(calibrate=("linear",))
    users = [u for u in model._users if u in platt._users][:20]
    assert users
    moved = 0
    for m, served_platt in ((model, False), (platt, True)):
        cand = m._cands["linear"]
        assert (cand.calibrator.a, cand.calibrator.b) != (1.0, 0.0)  # it learned either way
        for u in users:
            raw = cand.raw(m._users[u].features)
            want = cand.calibrator.predict(raw) if served_platt else raw
            assert m.risk(u).probability == pytest.approx(want, abs=1e-12)
            moved += served_platt and abs(want - raw) > 1e-6
    assert moved > 0
