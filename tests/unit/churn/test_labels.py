"""Delayed labels: never from the future, horizon expiry, cancels, bounded buffers."""

from __future__ import annotations

from services.churn.labels import DAY_S, DelayedLabeler


def make(**kw: float) -> DelayedLabeler[str]:
    args = {"horizon_s": 30 * DAY_S, "lateness_s": 2 * DAY_S, "max_pending": 5, "min_gap_s": 0.0}
    args.update(kw)
    return DelayedLabeler[str](**args)  # type: ignore[arg-type]


def test_no_label_before_horizon_plus_lateness() -> None:
    lab = make()
    lab.add("u", 10 * DAY_S, "s")
    assert lab.advance(40 * DAY_S) == []  # horizon over, but a late cancel may still come
    assert lab.advance(42 * DAY_S - 1) == []
    out = lab.advance(42 * DAY_S + 1)
    assert [(x.payload, x.label) for x in out] == [("s", False)]
    assert out[0].labelled_at >= out[0].time + 30 * DAY_S
    assert len(lab) == 0


def test_cancel_within_horizon_labels_positive_and_never_twice() -> None:
    lab = make()
    lab.add("u", 10 * DAY_S, "a")
    lab.add("u", 20 * DAY_S, "b")
    lab.add("v", 20 * DAY_S, "other user")
    out = lab.cancel("u", 35 * DAY_S)
    assert [(x.payload, x.label) for x in out] == [("a", True), ("b", True)]
    assert lab.advance(100 * DAY_S)[0].payload == "other user"  # u's are gone
    assert lab.cancel("u", 36 * DAY_S) == []


def test_cancel_after_horizon_labels_negative() -> None:
    lab = make()
    lab.add("u", 0.0, "old")
    lab.add("u", 10 * DAY_S, "recent")
    out = lab.cancel("u", 35 * DAY_S)  # 'old' is 35 days before the cancel
    assert [(x.payload, x.label) for x in out] == [("old", False), ("recent", True)]


def test_cancel_before_snapshot_does_not_label_it() -> None:
    lab = make()
    lab.add("u", 10 * DAY_S, "after-cancel")
    assert lab.cancel("u", 9 * DAY_S) == []
    assert lab.cancel("u", 10 * DAY_S) == []  # the same instant is not "within after t" either
    assert len(lab) == 0


def test_positive_needs_the_cancel_event_not_the_clock() -> None:
    lab = make()
    lab.add("u", 10 * DAY_S, "s")
    # Time passes to 20 days after the snapshot: nothing known yet.
    assert lab.advance(30 * DAY_S) == []
    assert [x.label for x in lab.cancel("u", 31 * DAY_S)] == [True]


def test_pending_buffer_is_bounded_and_spaced() -> None:
    lab = make(max_pending=3, min_gap_s=DAY_S)
    assert lab.add("u", 0.0, "0")
    assert not lab.add("u", 0.5 * DAY_S, "too close")
    for i in range(1, 6):
        assert lab.add("u", i * DAY_S, str(i))
    assert [p for _, p in lab.pending("u")] == ["3", "4", "5"]
    assert lab.evicted == 3
    out = lab.advance(200 * DAY_S)
    assert [x.payload for x in out] == ["3", "4", "5"]  # evicted ones never get a label


def test_stale_snapshot_is_refused() -> None:
    lab = make()
    lab.advance(100 * DAY_S)
    assert not lab.add("u", 50 * DAY_S, "backfilled")
    assert lab.add("u", 99 * DAY_S, "recent enough")


def test_labels_match_a_brute_force_truth() -> None:
    import random

    rng = random.Random(0)
    lab = make()
    cancels = {f"u{i}": rng.uniform(0, 120) * DAY_S for i in range(40)}
    snaps = sorted((rng.uniform(0, 120) * DAY_S, f"u{rng.randrange(40)}") for _ in range(300))
    got: dict[tuple[str, float], bool] = {}
    cancelled: set[str] = set()
    events = [(t, "snap", u) for t, u in snaps] + [(c, "cancel", u) for u, c in cancels.items()]
    for t, kind, u in sorted(events):
        for x in lab.advance(t):
            got[(x.user_id, x.time)] = x.label
        if kind == "cancel":
            cancelled.add(u)
            for x in lab.cancel(u, t):
                got[(x.user_id, x.time)] = x.label
        elif u not in cancelled:
            lab.add(u, t, "")
    for x in lab.advance(1e12):
        got[(x.user_id, x.time)] = x.label
    assert got
    for (u, t), y in got.items():
        assert y == (t < cancels[u] <= t + 30 * DAY_S)
