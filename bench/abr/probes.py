"""Probes of the HSDPA gap that change the service's inputs or its parts, not its knobs (bench only).

``ConditionalEngine`` gives the planner error quantiles conditioned on the session's state: the
errors of the ``k`` past feature snapshots nearest to the current one (shape of the last five
rates, volatility, level, session age), instead of the quantiles of every error seen. On the
service's own training stream they are the better forecast (pinball loss of the five scenario
quantiles 6 % lower on the training traces, 17 % on FCC, 0.5 % on HSDPA); the probe asks whether
the planner turns that into QoE.

``AveragingPlanner`` asks the opposite question: is the closed loop's chaos (a 0.3 % change of
the terminal weight moves HSDPA by up to 0.5) costing QoE on average? It averages each first
rung's best plan value over planners whose terminal and switch weights are spread around the
default, which smooths the near-ties that flip decisions.

``RiverBlrPredictor`` puts River's own ``BayesianLinearRegression`` (with ``smoothing``, its
forgetting) in place of the service's recursive least squares. With the prior centred on the
5-chunk harmonic mean, precision ``alpha = ridge`` and ``beta = alpha / ((1 - smoothing) *
ridge)`` it is the same estimator (the posterior precision is ``s^n alpha I + sum s^(n-k) x xT``
either way): on the service's training stream the two agree to 5e-10 when the RLS learns from
the raw prediction error. The service's RLS learns from the error of its *clamped* prediction
(clamped to the range of rates seen, which only binds early in the warm-up); the probe gives
River's ``learn_one`` the raw target, so its row also measures what that robustness is worth.
River's smoothing step inverts the precision matrix at every update and keeps no floor for
directions the data stops exciting (condition number 1.3e9 after 20,000 updates of that stream
and rising, its smallest eigenvalue shrinking by the smoothing factor per update in such a
direction), which is why the service keeps its own RLS, whose covariance trace is capped.

>>> from services.abr.qoe import QoE
>>> ladder = (300, 750, 1200)
>>> base = MpcPlanner(QoE.linear(ladder))
>>> avg = AveragingPlanner([base, MpcPlanner(QoE.linear(ladder), switch_weight=2.0)])
>>> sizes = np.outer(ladder, np.ones(5)) * 500.0
>>> avg.plan(buffer_s=20.0, last_rung=0, sizes=sizes, rates=np.array([4e5])).rung
2
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river.linear_model import BayesianLinearRegression

from services.abr.engine import AbrEngine
from services.abr.planner import MpcPlanner, Plan
from services.abr.predictor import ThroughputPredictor
from services.abr.session import SessionState

# Rough spreads of the neighbour features on the training stream, so a unit distance means "one
# typical difference" in every coordinate; the level counts 0.3 of that (the shape of the recent
# rates matters more to the error than where they sit).
_SCALE = np.array([0.25, 0.3, 0.15, 0.3, 0.8 / 0.3, 0.3])


def neighbour_key(x: Mapping[str, float]) -> np.ndarray:
    """Where a feature snapshot sits: last two rates and the 5-chunk low against their
    harmonic mean, volatility, level, session age.

    >>> neighbour_key({"hmean5": 12.0, "last": 12.5, "lag2": 11.5, "std5": 0.3, "min5": 11.0,
    ...                "fresh": 0.5}).round(2).tolist()
    [2.0, -1.67, 2.0, -3.33, 4.5, 1.67]
    """
    h = x["hmean5"]
    raw = [x["last"] - h, x["lag2"] - h, x["std5"], x["min5"] - h, h, x["fresh"]]
    return np.asarray(raw) / _SCALE


class RecordingPredictor(ThroughputPredictor):
    """The service's predictor, also keeping the last ``capacity`` (snapshot key, error) pairs."""

    def __init__(self, capacity: int = 20_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keys = np.zeros((capacity, len(_SCALE)))
        self.errors = np.zeros(capacity)
        self.recorded = 0

    def learn_one(
        self,
        x: Mapping[str, float],
        y: float,
        context: Mapping[str, object] | None = None,
        v: np.ndarray | None = None,
    ) -> None:
        if self.n_learned and y > 0 and math.isfinite(y):
            slot = self.recorded % len(self.errors)
            self.keys[slot] = neighbour_key(x)
            self.errors[slot] = math.log(y) - self.predict_log(x)
            self.recorded += 1
        super().learn_one(x, y, context, v)

    def neighbour_quantiles(
        self, x: Mapping[str, float], levels: Sequence[float], k: int
    ) -> np.ndarray | None:
        """Error quantiles among the ``k`` recorded snapshots nearest to ``x`` (None: too few)."""
        n = min(self.recorded, len(self.errors))
        if n < 2 * k:
            return None
        d = ((self.keys[:n] - neighbour_key(x)) ** 2).sum(axis=1)
        nearest = np.argpartition(d, k)[:k]
        return np.quantile(self.errors[:n][nearest], levels)


class ConditionalEngine(AbrEngine):
    """AbrEngine whose scenarios use neighbour-conditioned error quantiles (``blend`` of them)."""

    k = 200  # neighbours per decision (set by the variant)
    blend = 1.0  # share of the neighbour quantiles against the global ones

    def scenarios(self, state: SessionState, buffer_s: float) -> np.ndarray:
        predictor = self.predictor
        if not isinstance(predictor, RecordingPredictor):
            raise TypeError("ConditionalEngine needs a RecordingPredictor")
        x = self.features(state, buffer_s)
        errors = predictor.error_quantiles(x)[self._level_index]
        near = predictor.neighbour_quantiles(x, self.scenario_levels, self.k)
        if near is not None:
            errors = (1.0 - self.blend) * errors + self.blend * near
        return np.exp(predictor.predict_log(x) + errors)


class AveragingPlanner:
    """Several MPC planners voting with their per-first-rung values (mean), the first's reasons."""

    def __init__(self, planners: Sequence[MpcPlanner]) -> None:
        if not planners:
            raise ValueError("need at least one planner")
        self.planners = list(planners)
        self.horizon = self.planners[0].horizon

    def plan(self, **kwargs: Any) -> Plan:
        plans = [p.plan(**kwargs) for p in self.planners]
        mean = np.mean([p.scores for p in plans], axis=0)
        rung = int(np.argmax(mean))
        first = plans[0]
        if rung == first.rung:
            return first
        sizes = kwargs["sizes"]
        ratio = float(sizes[rung, 0] / sizes[first.rung, 0])
        return dataclasses.replace(
            first,
            rung=rung,
            reason="planner vote",
            predicted_download_s=first.predicted_download_s * ratio,
            value=float(mean[rung]),
        )


class RiverBlrPredictor(ThroughputPredictor):
    """The service's predictor with River's Bayesian linear regression as the mean model.

    It learns the residual of the log rate over the 5-chunk harmonic mean, so its prior (zero
    weights) is the service's starting model ("predict the harmonic mean"); error quantiles,
    clamping and the population prior are the service's own.
    """

    def __init__(self, forgetting: float = 0.999, **kwargs: Any) -> None:
        super().__init__(forgetting=forgetting, **kwargs)
        alpha = self.ridge  # with beta below: the RLS's ridge, the data weighed as it weighs them
        self.blr = BayesianLinearRegression(
            alpha=alpha, beta=alpha / ((1.0 - forgetting) * self.ridge), smoothing=forgetting
        )
        self._hmean = self.features.index("hmean5")

    def predict_log_vector(self, v: np.ndarray) -> float:
        raw = float(v[self._hmean]) + self.blr.predict_one(
            dict(zip(self.features, v.tolist(), strict=True))
        )
        if self.n_learned:
            return min(max(raw, self.low - 1.0), self.high + 1.0)
        return raw

    def _fit(self, v: np.ndarray, target: float, error: float) -> None:
        self.blr.learn_one(
            dict(zip(self.features, v.tolist(), strict=True)), target - float(v[self._hmean])
        )
