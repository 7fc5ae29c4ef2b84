"""Online churn model: River candidates learning from delayed labels, serving risk, factors and at-risk lists."""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from river import metrics

from services.churn.candidates import CompiledLinear, OnlinePlatt, default_candidates
from services.churn.factors import Factor, linear_factors
from services.churn.labels import DelayedLabeler, Labelled


@dataclass(slots=True)
class Pending:
    """What is kept for a queued snapshot until its label arrives."""

    features: dict[str, float]
    raw: dict[str, float]  # each candidate's raw probability at snapshot time
    calibrated: dict[str, float]  # ... and calibrated, as it would have been served
    served: float  # the active candidate's calibrated probability at snapshot time
    active: str


@dataclass(slots=True)
class UserView:
    """The latest snapshot of a user and the risk scored when it arrived."""

    features: dict[str, float]
    time: float
    risk: float
    unfinished_title: str = ""


@dataclass(frozen=True, slots=True)
class Risk:
    """A served risk: probability of cancelling within the horizon, and why."""

    user_id: str
    probability: float
    factors: tuple[Factor, ...]
    updated_at: float | None  # event time of the snapshot behind it; None for a prior
    known: bool
    model: str


@dataclass(frozen=True, slots=True)
class AtRiskPage:
    """One page of users above a risk threshold, highest first."""

    items: tuple[tuple[str, float, float], ...]  # (user id, risk, snapshot time)
    total: int
    next_offset: int | None


class _Candidate:
    """A River classifier plus its optional calibrator and prequential metrics."""

    def __init__(self, estimator: Any, calibrate: bool, auc_window: int) -> None:
        self.estimator = estimator
        self.calibrator = OnlinePlatt() if calibrate else None
        self.auc = metrics.RollingROCAUC(window_size=auc_window)
        self.log_loss = metrics.LogLoss()
        self.n = 0

    def raw(self, x: dict[str, float]) -> float:
        return float(self.estimator.predict_proba_one(x).get(True, 0.0))

    def calibrated(self, raw: float) -> float:
        return self.calibrator.predict(raw) if self.calibrator is not None else raw

    def score(self, x: dict[str, float], y: bool) -> None:
        """Test before train: the current (not yet taught) prediction against the new label."""
        p = self.calibrated(self.raw(x))
        self.auc.update(y, p)
        self.log_loss.update(y, min(1 - 1e-6, max(1e-6, p)))

    def learn(self, x: dict[str, float], y: bool, raw: float) -> None:
        if self.calibrator is not None:
            self.calibrator.learn(raw, y)
        self.estimator.learn_one(x, y)
        self.n += 1


class ChurnModel:
    """Online churn risk with delayed labels over several River candidates.

    Every snapshot is scored by the active candidate (cached for at-risk
    lists). Snapshots the labeler accepts (one per user every 3 days by default) are
    also scored by every candidate and queued with those scores (what was
    served, for offline evaluation). Labels become known on a cancel
    (positives) or when the horizon passes (negatives), but every label is
    learned only once its snapshot's horizon has closed, in snapshot-time
    order (see :meth:`_release`). Before learning, each candidate predicts
    the labelled snapshot with its current state (test, then train) for the
    prequential metrics. Every
    ``select_every`` labels the candidate with the best rolling AUC becomes
    active (ties within ``0.002`` keep the current one). Factors in words always come from the
    candidate named ``explainer`` (a linear pipeline).

    Reads (:meth:`risk`, :meth:`at_risk`, :meth:`metrics`) never mutate.

    >>> m = ChurnModel()
    >>> r = m.risk("nobody")
    >>> r.known, r.probability == m.prior
    (False, True)
    """

    def __init__(
        self,
        candidates: Mapping[str, Any] | None = None,
        labeler: DelayedLabeler[Pending] | None = None,
        calibrate: Collection[str] = ("tree",),
        explainer: str = "linear",
        prior: float = 0.05,
        select_every: int = 2000,
        auc_window: int = 20_000,
    ) -> None:
        cands = default_candidates() if candidates is None else dict(candidates)
        if explainer not in cands:
            raise ValueError(f"explainer {explainer!r} is not a candidate")
        self._cands = {n: _Candidate(e, n in calibrate, auc_window) for n, e in cands.items()}
        self.labeler: DelayedLabeler[Pending] = labeler or DelayedLabeler()
        self.explainer = explainer
        self.active = explainer
        self._prior = prior
        self._prior_weight = 200.0
        self.select_every = select_every
        self._users: dict[str, UserView] = {}
        self.n_labels = 0
        self.n_positive = 0
        self._compiled: CompiledLinear | None = None  # valid until the next label is learned
        self._settled: list[tuple[float, int, Labelled[Pending]]] = []  # known, not yet learned
        self._seq = 0

    # -- learning ----------------------------------------------------------

    def observe(
        self, user_id: str, time: float, features: dict[str, float], unfinished_title: str = ""
    ) -> float:
        """Take a snapshot: score it, remember it for serving, maybe queue it; return the risk."""
        if self.labeler.accepts(user_id, time):
            raw = {n: c.raw(features) for n, c in self._cands.items()}
            cal = {n: self._cands[n].calibrated(p) for n, p in raw.items()}
            risk = cal[self.active]
            self.labeler.add(user_id, time, Pending(dict(features), raw, cal, risk, self.active))
        else:
            risk = self._score(features, build=True)
        view = self._users.get(user_id)
        if view is None or time >= view.time:
            self._users[user_id] = UserView(features, time, risk, unfinished_title)
        return risk

    def observe_cancel(self, user_id: str, time: float) -> list[Labelled[Pending]]:
        """A cancellation: label the user's pending snapshots and stop serving the user.

        Returns the labels now known; they are learned once their horizon closes.
        """
        done = self.labeler.cancel(user_id, time)
        self._settle(done)
        view = self._users.get(user_id)
        if view is not None and view.time <= time:
            del self._users[user_id]
        return done

    def advance(self, now: float) -> list[Labelled[Pending]]:
        """Event time moved to ``now``: label expired horizons negative, learn what has settled."""
        done = self.labeler.advance(now)
        self._settle(done)
        self._release(now)
        return done

    def _settle(self, done: list[Labelled[Pending]]) -> None:
        for item in done:
            self._seq += 1
            heapq.heappush(self._settled, (item.time, self._seq, item))

    def _release(self, now: float) -> None:
        # Positives are known within days of their snapshot, negatives only a horizon later.
        # Learning each as soon as known would make "recent snapshot" look like "churner"
        # (measured on the bench: final-model AUC 0.52 against 0.68 offline), so every label
        # is learned when its horizon has closed, in snapshot-time order.
        cutoff = now - self.labeler.horizon_s - self.labeler.lateness_s
        batch = []
        while self._settled and self._settled[0][0] < cutoff:
            batch.append(heapq.heappop(self._settled)[2])
        self._learn(batch)

    def _score(self, x: dict[str, float], build: bool = False) -> float:
        """The active candidate's calibrated risk; the linear one via its compiled form."""
        cand = self._cands[self.active]
        if self.active == self.explainer and cand.calibrator is None:
            if self._compiled is None and build:
                self._compiled = CompiledLinear(cand.estimator)
            if self._compiled is not None:
                p = self._compiled.score(x)
                if p is not None:
                    return p
        return cand.calibrated(cand.raw(x))

    def _learn(self, done: list[Labelled[Pending]]) -> None:
        if done:
            self._compiled = None
        # Metrics score every label of the batch before any is learned: one cancel labels
        # several snapshots of the same user, and learning one must not inform the next.
        for item in done:
            for cand in self._cands.values():
                cand.score(item.payload.features, item.label)
        for item in done:
            p = item.payload
            for name, cand in self._cands.items():
                cand.learn(p.features, item.label, p.raw[name])
            self.n_labels += 1
            self.n_positive += item.label
            if self.n_labels % self.select_every == 0:
                self._select()

    def _select(self) -> None:
        scores = {n: c.auc.get() for n, c in self._cands.items() if c.n >= self.select_every}
        if not scores:
            return
        best = max(scores, key=lambda n: scores[n])
        if scores[best] > scores.get(self.active, -math.inf) + 0.002:
            self.active = best

    def forget(self, user_id: str) -> None:
        """Drop everything about a user (e.g. on erasure) without learning from it."""
        self._users.pop(user_id, None)
        self.labeler.forget(user_id)

    def expire(self, now: float, idle_s: float = 60 * 86_400.0) -> int:
        """Stop serving users with no snapshot for ``idle_s`` (bounded memory); returns how many."""
        stale = [u for u, v in self._users.items() if now - v.time > idle_s]
        for u in stale:
            del self._users[u]
        return len(stale)

    # -- serving (read-only) -----------------------------------------------

    @property
    def prior(self) -> float:
        """Risk for a user with no snapshot: the smoothed base rate of positive labels."""
        w = self._prior_weight
        return (self.n_positive + self._prior * w) / (self.n_labels + w)

    def risk(self, user_id: str, k: int = 3) -> Risk:
        """Current risk of ``user_id`` from its latest snapshot under the live model."""
        view = self._users.get(user_id)
        if view is None:
            return Risk(user_id, self.prior, (), None, False, "prior")
        p = self._score(view.features)
        return Risk(user_id, p, tuple(self.explain(user_id, k)), view.time, True, self.active)

    def explain(self, user_id: str, k: int = 3) -> list[Factor]:
        """Top risk-raising factors in words for a known user (empty if unknown)."""
        view = self._users.get(user_id)
        if view is None:
            return []
        return linear_factors(self._cands[self.explainer].estimator, view.features, k)

    def unfinished_title(self, user_id: str) -> str:
        """The unfinished title carried by the user's latest snapshot ('' if none)."""
        view = self._users.get(user_id)
        return view.unfinished_title if view is not None else ""

    def at_risk(self, threshold: float, offset: int = 0, limit: int = 50) -> AtRiskPage:
        """Users whose risk (as scored at their latest snapshot) is >= ``threshold``, paged."""
        rows = sorted(
            ((u, v.risk, v.time) for u, v in self._users.items() if v.risk >= threshold),
            key=lambda r: (-r[1], r[0]),
        )
        page = tuple(rows[offset : offset + limit])
        nxt = offset + limit if offset + limit < len(rows) else None
        return AtRiskPage(page, len(rows), nxt)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Prequential rolling AUC, cumulative log loss and label count per candidate."""
        return {
            n: {"auc": c.auc.get(), "log_loss": c.log_loss.get(), "labels": float(c.n)}
            for n, c in self._cands.items()
        }

    def __len__(self) -> int:
        return len(self._users)
