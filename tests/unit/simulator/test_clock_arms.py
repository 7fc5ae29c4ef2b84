"""The simulated clock and the experiment arms."""

from services.simulator.arms import (
    ABR_BUFFER_BASED,
    ABR_LEARNED,
    REC_LEARNED,
    REC_POPULARITY,
    Assignment,
    abr_session_arm,
    rec_arm,
)
from services.simulator.clock import SimClock, span_for


class FakeTime:
    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 0.0

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def test_clock_starts_in_the_past_and_scales_by_speed():
    ft = FakeTime(1_800_000_000.0)
    clock = SimClock(500.0, span_s=86_400.0, real=lambda: ft.wall, monotonic=lambda: ft.mono)
    assert clock.now() == ft.wall - 86_400.0
    ft.advance(10.0)
    assert clock.now() == clock.start + 5_000.0
    assert clock.real_delay(clock.now() + 1_000.0) == 2.0


def test_clock_never_runs_ahead_of_real_time():
    ft = FakeTime(1_800_000_000.0)
    clock = SimClock(1000.0, span_s=3_600.0, real=lambda: ft.wall, monotonic=lambda: ft.mono)
    for _ in range(100):
        ft.advance(0.5)
        assert clock.now() <= ft.wall
    assert clock.now() == ft.wall  # caught up: clamped, now moves at 1x
    t = clock.now()
    ft.advance(2.0)
    assert clock.now() == t + 2.0
    assert clock.real_delay(clock.now() + 5.0) == 5.0


def test_span_is_bounded_by_the_telemetry_window():
    assert span_for(1000.0, 60.0, 29.0) == 60_000.0
    assert span_for(1000.0, 1e6, 29.0) == 29 * 86_400.0
    assert span_for(1000.0, 0.0, 29.0) == 29 * 86_400.0


def test_arms_are_deterministic_balanced_and_independent():
    users = [f"sim-{i:06d}" for i in range(20_000)]
    rec = [rec_arm(u) for u in users]
    abr = [abr_session_arm(u) for u in users]
    assert rec == [rec_arm(u) for u in users]
    assert set(rec) == {REC_LEARNED, REC_POPULARITY}
    assert set(abr) == {ABR_LEARNED, ABR_BUFFER_BASED}
    share = rec.count(REC_LEARNED) / len(users)
    assert 0.48 < share < 0.52
    assert 0.48 < abr.count(ABR_LEARNED) / len(users) < 0.52
    # Independent salts: knowing the rec arm says nothing about the abr arm.
    both = sum(r == REC_LEARNED and a == ABR_LEARNED for r, a in zip(rec, abr, strict=True))
    assert 0.23 < both / len(users) < 0.27


def test_session_arms_follow_the_share_and_split_each_user():
    a = Assignment(abr_learned_share=0.2)
    sessions = [f"s-run-{i:x}" for i in range(20_000)]
    arms = [a.abr(s) for s in sessions]
    assert arms == [a.abr(s) for s in sessions]
    assert 0.18 < arms.count(ABR_LEARNED) / len(arms) < 0.22
    # A user's ten sessions are not all in one arm (unlike a per-user hash).
    mixed = sum(len(set(arms[i : i + 10])) == 2 for i in range(0, 20_000, 10))
    assert mixed > 0.8 * 2000
    assert Assignment(abr_learned_share=0.0).abr("s-1") == ABR_BUFFER_BASED


def test_pre_period_gives_everyone_the_control_rows():
    a = Assignment(rec_start_s=1000.0)
    assert a.rec(REC_LEARNED, 999.0) == REC_POPULARITY
    assert a.rec(REC_LEARNED, 1000.0) == REC_LEARNED
    assert a.rec(REC_POPULARITY, 5000.0) == REC_POPULARITY
    assert not Assignment().in_pre_period(0.0)
