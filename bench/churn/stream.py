"""Turns the simulated population into engagement events, delivered in arrival order with delays and duplicates."""

from __future__ import annotations

import numpy as np

from bench.churn.activity import HEARTBEAT_OVER_S
from bench.churn.simulator import DAY_S, N_GENRES, PLANS, Population
from services.features.events import EngagementEvent, EventKind

K = EventKind
GENRE_NAMES = tuple(f"g{i:02d}" for i in range(N_GENRES))


class EventStream:
    """Per simulated day: the events that happened, then the events that *arrive* that day.

    Delivery: a share ``late`` of events is delayed by up to 36 h (inside the
    48 h lateness bound), a share ``very_late`` by 50-96 h (beyond it: the
    features must drop and count them), and a share ``dup`` is delivered twice
    (the copy up to 12 h later).
    """

    def __init__(
        self,
        pop: Population,
        seed: int = 0,
        late: float = 0.05,
        very_late: float = 0.003,
        dup: float = 0.01,
    ) -> None:
        self.pop = pop
        self.rng = np.random.default_rng(seed + 1)
        self.late, self.very_late, self.dup = late, very_late, dup
        self._carry: list[tuple[float, EngagementEvent]] = []
        self.generated = 0
        self.delivered = 0
        self.cancels = 0

    def deliver(self, day: int) -> list[EngagementEvent]:
        """Events arriving during ``day`` (event time is often that day, sometimes earlier)."""
        events = self._generate(day)
        self.generated += len(events)
        n = len(events)
        times = np.fromiter((e.time for e in events), dtype=np.float64, count=n)
        u = self.rng.random(n)
        delay = np.where(
            u < self.very_late,
            self.rng.uniform(50, 96, n) * 3600,
            np.where(u < self.very_late + self.late, self.rng.uniform(0, 36, n) * 3600, 0.0),
        )
        arrival = np.maximum(times, day * DAY_S) + delay
        pending = self._carry + list(zip(arrival.tolist(), events, strict=True))
        for i in np.flatnonzero(self.rng.random(n) < self.dup).tolist():
            pending.append((arrival[i] + self.rng.uniform(0, 12) * 3600, events[i]))
        end = (day + 1) * DAY_S
        now = [p for p in pending if p[0] < end]
        self._carry = [p for p in pending if p[0] >= end]
        now.sort(key=lambda p: p[0])
        self.delivered += len(now)
        return [e for _, e in now]

    def _generate(self, day: int) -> list[EngagementEvent]:
        pop, rng = self.pop, self.rng
        t0 = day * DAY_S
        out: list[EngagementEvent] = []
        # Subscriptions. Pre-existing subscribers' signups (in the past) are delivered on day 0.
        signing = np.flatnonzero(
            (np.floor(pop.signup_day) == day) | ((day == 0) & (pop.signup_day < 0))
        )
        for i in signing.tolist():
            out.append(
                EngagementEvent(
                    f"u{i}", f"u{i}-s", pop.signup_day[i] * DAY_S, K.SIGNUP, plan=PLANS[pop.plan[i]]
                )
            )
        cancelling = np.flatnonzero(pop.cancel_day == day)
        for i in cancelling.tolist():
            out.append(
                EngagementEvent(f"u{i}", f"u{i}-c", t0 + pop.cancel_frac[i] * DAY_S, K.CANCEL)
            )
        self.cancels += len(cancelling)
        alive = (pop.signup_day < day + 1) & (pop.cancel_day >= day)
        changing = np.flatnonzero(alive & (rng.random(pop.n) < 0.0015))
        for i in changing.tolist():
            new = int(rng.integers(0, len(PLANS)))
            pop.plan[i] = new
            out.append(
                EngagementEvent(
                    f"u{i}",
                    f"u{i}-p{day}",
                    t0 + rng.uniform(0, DAY_S),
                    K.PLAN_CHANGE,
                    plan=PLANS[new],
                )
            )
        # Sessions and plays: exactly the realised draws the hazard reads.
        act = pop.activity[day]
        ns = act.s_user.size
        if ns == 0:
            return out
        su, device, clicked = act.s_user, act.s_device, act.s_clicked
        sess_t = act.s_start.tolist()
        minutes = pop.title_minutes[act.p_title]
        for k in range(ns):
            uid = f"u{su[k]}"
            dev = f"d{device[k]}"
            ts = sess_t[k]
            ep = f"{uid}-{day}-{k}"
            out.append(EngagementEvent(uid, ep + "s", ts, K.SESSION_START, device=dev))
            out.append(EngagementEvent(uid, ep + "i", ts + 5, K.IMPRESSION, device=dev))
            if clicked[k]:
                out.append(EngagementEvent(uid, ep + "c", ts + 10, K.CLICK, device=dev))
        psess = act.p_session
        for j, (ui, ti, g, oc, w, tp) in enumerate(
            zip(
                act.p_user.tolist(),
                act.p_title.tolist(),
                act.p_genre.tolist(),
                act.p_outcome.tolist(),
                act.p_watched.tolist(),
                act.p_time.tolist(),
                strict=True,
            )
        ):
            uid = f"u{ui}"
            ep = f"{uid}-{day}-p{j}"
            tid = f"t{ti}"
            g2 = pop.title_genre2[ti]
            genres = (GENRE_NAMES[g],) if g2 < 0 else (GENRE_NAMES[g], GENRE_NAMES[g2])
            dev = f"d{device[psess[j]]}"
            dur = float(minutes[j]) * 60.0
            out.append(
                EngagementEvent(
                    uid,
                    ep + "a",
                    tp,
                    K.PLAY,
                    title_id=tid,
                    genres=genres,
                    device=dev,
                    from_recommendation=bool(act.p_reco[j]),
                )
            )
            rest = w
            if w > HEARTBEAT_OVER_S:
                rest = w / 2
                out.append(
                    EngagementEvent(
                        uid, ep + "h", tp + rest, K.HEARTBEAT, title_id=tid, watched_s=rest
                    )
                )
            out.append(
                EngagementEvent(
                    uid,
                    ep + "k",
                    tp + w,
                    K.CHUNK,
                    title_id=tid,
                    duration_s=w,
                    bitrate_kbps=float(act.p_bitrate[j]),
                    rebuffer_ms=float(act.p_rebuffer_ms[j]),
                )
            )
            kind = K.COMPLETE if oc == 0 else (K.SKIP if oc == 1 else K.STOP)
            out.append(
                EngagementEvent(
                    uid,
                    ep + "e",
                    tp + w + 1,
                    kind,
                    title_id=tid,
                    position_s=w,
                    duration_s=dur,
                    watched_s=rest,
                )
            )
            if act.p_rated[j]:
                out.append(
                    EngagementEvent(
                        uid,
                        ep + "r",
                        tp + w + 2,
                        K.RATING,
                        title_id=tid,
                        rating=float(act.p_rating[j]),
                    )
                )
        return out
