"""Online churn model: River candidates learning from delayed labels, serving risk, factors and at-risk lists."""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from river import metrics

from services.churn.candidates import OnlinePlatt, compile_estimator, default_candidates
from services.churn.factors import Factor, linear_factors
from services.churn.history import FeatureHistory
from services.churn.labels import DAY_S, DelayedLabeler, Labelled


@dataclass(slots=True)
class Pending:
    """What is kept for a queued snapshot until its label arrives."""

    features: dict[str, float]
    raw: dict[str, float]  # each candidate's own probability at snapshot time
    calibrated: dict[str, float]  # ... through its online Platt calibrator (monitored, not served)
    served: float  # the active candidate's served probability at snapshot time
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
    """An estimator trained on short-horizon labels, served on the long horizon, plus an
    online Platt calibrator (fitted on the long-horizon labels) and prequential metrics.

    The calibrator always learns, so its probabilities can be compared; it is served only
    if ``calibrate`` (see :class:`ChurnModel` for why the default serves the raw score).
    """

    def __init__(self, estimator: Any, exponent: float, auc_window: int, calibrate: bool) -> None:
        self.estimator = estimator
        self.exponent = exponent  # serving horizon / training horizon
        self.calibrator = OnlinePlatt(lr=0.002)
        self.calibrate = calibrate
        self.auc = metrics.RollingROCAUC(window_size=auc_window)
        self.log_loss = metrics.LogLoss()
        self.n = 0
        # The estimator folded into one weight per feature, for cheap scoring between updates;
        # built on a write (observe), dropped when the estimator learns, False if not compilable.
        self._compiled: Any = None

    def _short(self, x: dict[str, float], build: bool) -> float:
        comp = self._compiled
        if comp is None and build:
            comp = self._compiled = compile_estimator(self.estimator) or False
        if comp:
            p = comp.score(x)
            if p is not None:
                return float(p)
        return float(self.estimator.predict_proba_one(x).get(True, 0.0))

    def raw(self, x: dict[str, float], build: bool = False) -> float:
        """P(cancel within the serving horizon) if the short-horizon hazard held (uncalibrated)."""
        p = self._short(x, build)
        if self.exponent == 1.0:
            return p
        return -math.expm1(self.exponent * math.log1p(-min(p, 1.0 - 1e-12)))

    def platt(self, raw: float) -> float:
        """``raw`` through the online Platt calibrator."""
        return self.calibrator.predict(raw)

    def served(self, raw: float) -> float:
        """What this candidate serves for a raw score."""
        return self.calibrator.predict(raw) if self.calibrate else raw

    def score(self, x: dict[str, float], y: bool) -> float:
        """Test before train on a long-horizon label; returns the raw score used."""
        raw = self.raw(x, build=True)
        p = self.served(raw)
        self.auc.update(y, p)
        self.log_loss.update(y, min(1 - 1e-6, max(1e-6, p)))
        return raw

    def learn(self, xs: list[dict[str, float]], ys: list[bool]) -> None:
        if not xs:
            return
        learn_many = getattr(self.estimator, "learn_many", None)
        if learn_many is not None:
            learn_many(xs, ys)
        else:
            for x, y in zip(xs, ys, strict=True):
                self.estimator.learn_one(x, y)
        self.n += len(xs)
        self._compiled = None


class ChurnModel:
    """Online churn risk: trained on delayed hazard labels, served and judged on the 30-day horizon.

    Two delayed labelers watch the same snapshots:

    - ``labeler`` (the serving horizon, 30 days): one snapshot per user every
      3 days is queued with what every candidate served for it. Its labels
      drive the prequential metrics, candidate selection, the online Platt
      calibration and the prior; they are what the bench evaluates on.
    - ``train_labeler`` (``train_horizon_s``, by default the serving horizon, one snapshot
      per user every 3 days): its labels teach the estimators, each once its
      horizon has closed, in snapshot-time order (see :meth:`_release`).

    The training horizon trades freshness for reach. A 30-day label is known
    only 32 days later; a 14-day label closes in 16 days, and the candidate
    then serves ``1 - (1 - p14) ** (30 / 14)`` (a monotone map: ranking, hence
    AUC, is the hazard model's). Learning positives as soon as a cancel reveals
    them (negatives only a horizon later) would teach "recent snapshot =
    churner", so every label waits for its horizon. On the bench's first two
    simulators, whose hazard read latent engagement, 7-, 14- and 30-day labels
    ranked within 0.006 AUC and 14 days was the default. On simulator v3 the
    hazard reads realised viewing, which the features see directly, and what
    drives days 15-30 of the horizon differs from what drives days 1-14
    (a week's noisy drop fades, relevance stays): 30-day labels ranked better
    in an offline emulation of this protocol (2,000 users: AUC 0.655 against
    0.646 for 14-day labels; ``bench/results/churn_ablation.md``).

    Every snapshot is scored by the active candidate (cached for at-risk
    lists). Every ``select_every`` long-horizon labels the candidate with the
    best rolling AUC becomes active (ties within 0.002 keep the current one).
    Factors in words come from the candidate named ``explainer``.

    Calibration: the served probability is the estimator's own, fitted by
    log loss on the training labels and carried to the serving horizon by the
    constant-hazard map above. Each candidate also runs an online Platt
    calibrator against the 30-day labels, served only for the candidates named
    in ``calibrate`` (default: none). On the bench the Platt-served score was
    worse on both counts: AUC 0.6345 against 0.6438 and log loss 0.358 against
    0.323 (10,000 users). Its slope and offset drift as it learns; that costs
    nothing within one day but reorders snapshots scored weeks apart, and it
    tracks the base rate from labels 32 days old, later than the estimator's
    own refit on 16-day-old labels. Batch Platt refitted weekly on the last
    labels also cost 0.004 AUC (``bench/results/churn_ablation.md``).

    History: every snapshot first goes through ``history``
    (:class:`~services.churn.history.FeatureHistory`), which can add the user's
    14-day means of a few snapshot features. It is off by default. The hazard
    of the next weeks reads how the whole billing period went, and the features
    service now computes that period itself from its event-time buckets
    (``services.features.period``: 14-day means of the daily viewing decline,
    level and rebuffering). With those, the history's means of today's
    snapshot values only added collinear noise (emulated, seed 1: 0.6380
    without, 0.6359 with; seed 2: 0.6344 without, 0.6324 with;
    ``bench/results/churn_ablation.md``).

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
        calibrate: Collection[str] = (),
        explainer: str = "linear",
        prior: float = 0.05,
        select_every: int = 2000,
        auc_window: int = 20_000,
        train_horizon_s: float | None = None,
        train_gap_s: float = 3 * DAY_S,
        history: FeatureHistory | None = None,
    ) -> None:
        cands = default_candidates() if candidates is None else dict(candidates)
        if explainer not in cands:
            raise ValueError(f"explainer {explainer!r} is not a candidate")
        self.labeler: DelayedLabeler[Pending] = labeler or DelayedLabeler()
        if train_horizon_s is None:
            train_horizon_s = self.labeler.horizon_s
        self.train_labeler: DelayedLabeler[dict[str, float]] = DelayedLabeler(
            horizon_s=train_horizon_s,
            lateness_s=self.labeler.lateness_s,
            max_pending=int(train_horizon_s // max(train_gap_s, 1.0)) + 4,
            min_gap_s=train_gap_s,
        )
        exponent = self.labeler.horizon_s / float(train_horizon_s)
        self._cands = {
            n: _Candidate(e, exponent, auc_window, n in calibrate) for n, e in cands.items()
        }
        self.explainer = explainer
        self.active = explainer
        self._prior = prior
        self._prior_weight = 200.0
        self.select_every = select_every
        self._users: dict[str, UserView] = {}
        self.n_labels = 0
        self.n_positive = 0
        self.n_train = 0
        self._settled: list[tuple[float, int, Labelled[Any]]] = []  # long horizon, not yet used
        self._train: list[tuple[float, int, Labelled[Any]]] = []  # short horizon, not yet learned
        self._seq = 0
        # Off by default: the features service's billing-period means supersede it (see the class
        # docstring); ``history=FeatureHistory()`` turns it back on.
        self.history = FeatureHistory(()) if history is None else history

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Snapshots written before the feature history start one empty: it fills as snapshots come.
        state.setdefault("history", FeatureHistory(()))
        self.__dict__.update(state)

    # -- learning ----------------------------------------------------------

    def observe(
        self, user_id: str, time: float, features: dict[str, float], unfinished_title: str = ""
    ) -> float:
        """Take a snapshot: score it, remember it for serving, maybe queue it; return the risk."""
        features = self.history.update(user_id, time, features)
        if self.labeler.accepts(user_id, time):
            raw = {n: c.raw(features, build=True) for n, c in self._cands.items()}
            cal = {n: self._cands[n].platt(p) for n, p in raw.items()}
            risk = self._cands[self.active].served(raw[self.active])
            self.labeler.add(user_id, time, Pending(dict(features), raw, cal, risk, self.active))
        else:
            cand = self._cands[self.active]
            risk = cand.served(cand.raw(features, build=True))
        if self.train_labeler.accepts(user_id, time):
            self.train_labeler.add(user_id, time, dict(features))
        view = self._users.get(user_id)
        if view is None or time >= view.time:
            self._users[user_id] = UserView(features, time, risk, unfinished_title)
        return risk

    def observe_cancel(self, user_id: str, time: float) -> list[Labelled[Pending]]:
        """A cancellation: label the user's pending snapshots and stop serving the user.

        Returns the long-horizon labels now known; all labels are used once their horizon closes.
        """
        done = self.labeler.cancel(user_id, time)
        self._push(self._settled, done)
        self._push(self._train, self.train_labeler.cancel(user_id, time))
        view = self._users.get(user_id)
        if view is not None and view.time <= time:
            del self._users[user_id]
            self.history.forget(user_id)
        return done

    def advance(self, now: float) -> list[Labelled[Pending]]:
        """Event time moved to ``now``: label expired horizons negative, learn what has settled."""
        done = self.labeler.advance(now)
        self._push(self._settled, done)
        self._push(self._train, self.train_labeler.advance(now))
        self._release(now)
        return done

    def _push(self, heap: list[tuple[float, int, Labelled[Any]]], done: list[Any]) -> None:
        for item in done:
            self._seq += 1
            heapq.heappush(heap, (item.time, self._seq, item))

    @staticmethod
    def _pop_before(heap: list[tuple[float, int, Labelled[Any]]], cutoff: float) -> list[Any]:
        out = []
        while heap and heap[0][0] < cutoff:
            out.append(heapq.heappop(heap)[2])
        return out

    def _release(self, now: float) -> None:
        # Positives are known within days of their snapshot, negatives only a horizon later.
        # Learning each as soon as known would make "recent snapshot" look like "churner"
        # (measured on the bench: final-model AUC 0.52 against 0.68 offline), so every label
        # is used when its horizon has closed, in snapshot-time order.
        lab, tr = self.labeler, self.train_labeler
        # Long horizon first: score (test) and calibrate with the estimators as they served.
        self._judge(self._pop_before(self._settled, now - lab.horizon_s - lab.lateness_s))
        batch = self._pop_before(self._train, now - tr.horizon_s - tr.lateness_s)
        if batch:
            xs = [it.payload for it in batch]
            ys = [it.label for it in batch]
            for cand in self._cands.values():
                cand.learn(xs, ys)
            self.n_train += len(batch)

    def _judge(self, done: list[Labelled[Pending]]) -> None:
        # Every label of the batch is scored before any calibrator learns from it.
        raws = [
            {n: c.score(it.payload.features, it.label) for n, c in self._cands.items()}
            for it in done
        ]
        for item, raw in zip(done, raws, strict=True):
            for name, cand in self._cands.items():
                cand.calibrator.learn(raw[name], item.label)
            self.n_labels += 1
            self.n_positive += item.label
            if self.n_labels % self.select_every == 0:
                self._select()

    def _select(self) -> None:
        scores = {n: c.auc.get() for n, c in self._cands.items() if c.n > 0}
        if not scores:
            return
        best = max(scores, key=lambda n: scores[n])
        if scores[best] > scores.get(self.active, -math.inf) + 0.002:
            self.active = best

    def forget(self, user_id: str) -> None:
        """Drop everything about a user (e.g. on erasure) without learning from it."""
        self._users.pop(user_id, None)
        self.history.forget(user_id)
        self.labeler.forget(user_id)
        self.train_labeler.forget(user_id)

    def expire(self, now: float, idle_s: float = 60 * 86_400.0) -> int:
        """Stop serving users with no snapshot for ``idle_s`` (bounded memory); returns how many."""
        stale = [u for u, v in self._users.items() if now - v.time > idle_s]
        for u in stale:
            del self._users[u]
            self.history.forget(u)
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
        cand = self._cands[self.active]
        p = cand.served(cand.raw(view.features))
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
