"""Turns the simulated population into engagement events, delivered in arrival order with delays and duplicates."""

from __future__ import annotations

import numpy as np

from bench.churn.simulator import DAY_S, N_GENRES, PLANS, Population, sigmoid
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
        # Sessions.
        idx = np.flatnonzero(alive)
        lam = np.exp(pop.log_eng[idx, day]) / 55.0
        n_sess = rng.poisson(lam)
        su = np.repeat(idx, n_sess)
        if su.size == 0:
            return out
        ns = su.size
        start = t0 + rng.uniform(7, 23.5, ns) * 3600
        lo = np.maximum(pop.signup_day[su] * DAY_S + 60, t0)
        start = np.maximum(start, lo)
        end_ok = np.where(pop.cancel_day[su] == day, t0 + pop.cancel_frac[su] * DAY_S, np.inf)
        keep = start < end_ok
        su, start = su[keep], start[keep]
        ns = su.size
        rel = pop.relevance[su, day]
        device = (rng.random(ns) * pop.n_devices[su]).astype(np.int64)
        clicked = rng.random(ns) < sigmoid(-1.5 + 0.9 * rel)
        # Engaged days also mean longer sessions (more titles per visit), not only more visits.
        n_plays = 1 + rng.poisson(0.4 * np.exp(pop.log_eng[su, day] - pop.mu[su]), ns)
        # Plays, flattened.
        pu = np.repeat(su, n_plays)
        psess = np.repeat(np.arange(ns), n_plays)
        first = np.r_[True, psess[1:] != psess[:-1]]
        np_ = pu.size
        prel = pop.relevance[pu, day]
        cdf = np.cumsum(pop.genre_pref[pu], axis=1)
        genre = np.minimum((cdf < rng.random(np_)[:, None]).sum(axis=1), N_GENRES - 1)
        title = np.array(
            [
                pop.titles_by_genre[g][rng.integers(len(pop.titles_by_genre[g]))]
                for g in genre.tolist()
            ]
        )
        minutes = pop.title_minutes[title]
        r = rng.random(np_)
        pc, ps = sigmoid(-0.2 + 0.9 * prel), sigmoid(-1.8 - 0.8 * prel)
        outcome = np.where(r < pc, 0, np.where(r < pc + ps * (1 - pc), 1, 2))  # complete/skip/stop
        frac = np.where(
            outcome == 0,
            1.0,
            np.where(outcome == 1, rng.uniform(0.005, 0.05, np_), rng.uniform(0.05, 0.9, np_)),
        )
        watched = frac * minutes * 60.0
        rb = np.minimum(pop.rebuffer[pu, day] * np.exp(rng.normal(0, 0.5, np_)), 0.5)
        rebuffer_ms = watched * rb / (1 - rb) * 1000.0
        bitrate = pop.bitrate[pu, day] * rng.uniform(0.85, 1.1, np_)
        rating = np.clip(np.round(3.3 + 0.8 * prel + rng.normal(0, 1, np_)), 1, 5)
        rated = (outcome == 0) & (rng.random(np_) < 0.15)
        reco = first & clicked[psess]
        # Materialise (the only per-event Python loop).
        sess_t = start.tolist()
        play_off = np.zeros(np_)
        cum = np.cumsum(watched + 120.0)
        sess_first_idx = np.flatnonzero(first)
        base = np.repeat(
            cum[sess_first_idx] - (watched + 120.0)[sess_first_idx], np.bincount(psess)
        )
        play_off = cum - (watched + 120.0) - base + 30.0
        play_t = (start[psess] + play_off).tolist()
        for k in range(ns):
            uid = f"u{su[k]}"
            dev = f"d{device[k]}"
            ts = sess_t[k]
            ep = f"{uid}-{day}-{k}"
            out.append(EngagementEvent(uid, ep + "s", ts, K.SESSION_START, device=dev))
            out.append(EngagementEvent(uid, ep + "i", ts + 5, K.IMPRESSION, device=dev))
            if clicked[k]:
                out.append(EngagementEvent(uid, ep + "c", ts + 10, K.CLICK, device=dev))
        for j, (ui, ti, g, oc, w, tp) in enumerate(
            zip(
                pu.tolist(),
                title.tolist(),
                genre.tolist(),
                outcome.tolist(),
                watched.tolist(),
                play_t,
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
                    from_recommendation=bool(reco[j]),
                )
            )
            rest = w
            if w > 2400.0:
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
                    bitrate_kbps=float(bitrate[j]),
                    rebuffer_ms=float(rebuffer_ms[j]),
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
            if rated[j]:
                out.append(
                    EngagementEvent(
                        uid, ep + "r", tp + w + 2, K.RATING, title_id=tid, rating=float(rating[j])
                    )
                )
        return out
