"""What simulated subscribers actually do each day: sessions and plays drawn up front from the latent state.

The hazard (``bench.churn.simulator``) reads these realised quantities and the
event stream (``bench.churn.stream``) emits exactly them, so what a
subscriber experienced, what drives the cancellation and what the service can
observe are one and the same draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY_S = 86_400.0
N_GENRES = 18
HEARTBEAT_OVER_S = 2400.0  # a play longer than this also reports half its time midway
GAP_S = 120.0  # browsing between two plays of a session


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Titles: genres, lengths, and the titles of each genre in one flat array."""

    genre: np.ndarray  # (titles,) primary genre
    genre2: np.ndarray  # (titles,) second genre or -1
    minutes: np.ndarray  # (titles,) running time
    by_genre: np.ndarray  # title ids sorted by primary genre
    offset: np.ndarray  # (N_GENRES,) start of each genre in ``by_genre``
    count: np.ndarray  # (N_GENRES,) titles per genre

    @classmethod
    def draw(cls, rng: np.random.Generator, titles: int) -> Catalogue:
        """A random catalogue of ``titles`` titles."""
        genre = rng.integers(0, N_GENRES, titles)
        genre2 = np.where(rng.random(titles) < 0.4, rng.integers(0, N_GENRES, titles), -1)
        minutes = rng.uniform(22, 130, titles)
        by_genre = np.argsort(genre, kind="stable")
        count = np.bincount(genre, minlength=N_GENRES)
        offset = np.concatenate([[0], np.cumsum(count)[:-1]])
        return cls(genre, genre2, minutes, by_genre, offset, count)

    def pick(self, rng: np.random.Generator, genre: np.ndarray) -> np.ndarray:
        """A uniformly random title of each given genre (genres without titles are not drawn)."""
        k = np.minimum(
            (rng.random(genre.size) * self.count[genre]).astype(np.int64), self.count[genre] - 1
        )
        return self.by_genre[self.offset[genre] + k]


@dataclass(slots=True)
class DayActivity:
    """One day's sessions and plays, all users (``session`` indexes the session arrays).

    Play-level times are absolute event times: a play's chunk is reported at
    ``time + watched``, its end event one second later, and a play longer than
    ``HEARTBEAT_OVER_S`` sends a heartbeat with half its watched time midway.
    """

    s_user: np.ndarray
    s_start: np.ndarray
    s_device: np.ndarray
    s_clicked: np.ndarray
    p_user: np.ndarray
    p_session: np.ndarray
    p_time: np.ndarray
    p_title: np.ndarray
    p_genre: np.ndarray
    p_outcome: np.ndarray  # 0 complete, 1 skip, 2 stop
    p_watched: np.ndarray  # seconds
    p_rebuffer_ms: np.ndarray
    p_bitrate: np.ndarray
    p_rating: np.ndarray
    p_rated: np.ndarray
    p_reco: np.ndarray

    def keep_sessions(self, keep: np.ndarray) -> DayActivity:
        """Only the sessions where ``keep`` is true, with their plays (a cancelled user's last day)."""
        new_index = np.cumsum(keep) - 1
        pk = keep[self.p_session]
        return DayActivity(
            self.s_user[keep],
            self.s_start[keep],
            self.s_device[keep],
            self.s_clicked[keep],
            self.p_user[pk],
            new_index[self.p_session[pk]],
            self.p_time[pk],
            self.p_title[pk],
            self.p_genre[pk],
            self.p_outcome[pk],
            self.p_watched[pk],
            self.p_rebuffer_ms[pk],
            self.p_bitrate[pk],
            self.p_rating[pk],
            self.p_rated[pk],
            self.p_reco[pk],
        )

    def watch_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user, event time, watched seconds) of every event that reports watched time."""
        w = self.p_watched
        split = w > HEARTBEAT_OVER_S
        half = np.where(split, w / 2, w)
        users = np.concatenate([self.p_user, self.p_user[split]])
        times = np.concatenate([self.p_time + w + 1.0, self.p_time[split] + half[split]])
        return users, times, np.concatenate([half, half[split]])


@dataclass(frozen=True, slots=True)
class Viewers:
    """The per-user inputs of a day's draw (static behaviour and that day's latent state)."""

    mu: np.ndarray
    n_devices: np.ndarray
    genre_cdf: np.ndarray
    signup_day: np.ndarray


def draw_day(
    rng: np.random.Generator,
    day: int,
    viewers: Viewers,
    cat: Catalogue,
    log_eng: np.ndarray,
    relevance: np.ndarray,
    rebuffer: np.ndarray,
    bitrate: np.ndarray,
) -> DayActivity:
    """Sessions and plays of every subscribed user on ``day`` (day columns of the latent state).

    An engaged day means more sessions (Poisson, ``exp(log_eng)/55``) and more
    titles per session; relevance drives click-through, completion, skips and
    ratings; the day's rebuffer ratio and bitrate drive each play's quality.
    """
    t0 = day * DAY_S
    idx = np.flatnonzero(viewers.signup_day < day + 1)
    n_sess = rng.poisson(np.exp(log_eng[idx]) / 55.0)
    su = np.repeat(idx, n_sess)
    ns = su.size
    start = t0 + rng.uniform(7, 23.5, ns) * 3600
    start = np.maximum(start, np.maximum(viewers.signup_day[su] * DAY_S + 60, t0))
    order = np.argsort(start, kind="stable")
    su, start = su[order], start[order]
    rel = relevance[su]
    device = (rng.random(ns) * viewers.n_devices[su]).astype(np.int64)
    clicked = rng.random(ns) < sigmoid(-1.5 + 0.9 * rel)
    n_plays = 1 + rng.poisson(0.4 * np.exp(log_eng[su] - viewers.mu[su]), ns)
    pu = np.repeat(su, n_plays)
    psess = np.repeat(np.arange(ns), n_plays)
    first = np.r_[True, psess[1:] != psess[:-1]] if pu.size else np.zeros(0, dtype=bool)
    np_ = pu.size
    prel = relevance[pu]
    genre = np.minimum((viewers.genre_cdf[pu] < rng.random(np_)[:, None]).sum(axis=1), N_GENRES - 1)
    title = cat.pick(rng, genre)
    minutes = cat.minutes[title]
    r = rng.random(np_)
    pc, ps = sigmoid(-0.2 + 0.9 * prel), sigmoid(-1.8 - 0.8 * prel)
    outcome = np.where(r < pc, 0, np.where(r < pc + ps * (1 - pc), 1, 2))
    frac = np.where(
        outcome == 0,
        1.0,
        np.where(outcome == 1, rng.uniform(0.005, 0.05, np_), rng.uniform(0.05, 0.9, np_)),
    )
    watched = frac * minutes * 60.0
    rb = np.minimum(rebuffer[pu] * np.exp(rng.normal(0, 0.5, np_)), 0.5)
    rebuffer_ms = watched * rb / (1 - rb) * 1000.0
    rate = bitrate[pu] * rng.uniform(0.85, 1.1, np_)
    rating = np.clip(np.round(3.3 + 0.8 * prel + rng.normal(0, 1, np_)), 1, 5)
    rated = (outcome == 0) & (rng.random(np_) < 0.15)
    # Plays follow one another within a session, GAP_S apart, the first 30 s after the start.
    step = watched + GAP_S
    cum = np.cumsum(step)
    before = cum - step  # total of all earlier plays, this session's and the previous ones'
    base = np.repeat(before[first], n_plays)
    p_time = start[psess] + before - base + 30.0
    return DayActivity(
        su,
        start,
        device,
        clicked,
        pu,
        psess,
        p_time,
        title,
        genre,
        outcome,
        watched,
        rebuffer_ms,
        rate,
        rating,
        rated,
        first & clicked[psess],
    )
