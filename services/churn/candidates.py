"""The River classifiers churn compares, the feature transform they share, and online Platt calibration."""

from __future__ import annotations

import math
from typing import Any

from river import compose, linear_model, optim, preprocessing, tree

# Heavy-tailed counts and durations go through log1p so a linear model sees
# roughly symmetric inputs; ratios in [0, 1] are left alone.
_LOG1P = frozenset(
    {
        "sessions_1d",
        "sessions_7d",
        "sessions_28d",
        "minutes_1d",
        "minutes_7d",
        "minutes_28d",
        "days_since_last_session",
        "tenure_days",
        "distinct_genres_28d",
        "distinct_devices_28d",
        "plan_changes_28d",
        "downgrades_28d",
        "history_days",
        "sessions_14d",
        "minutes_14d",
    }
)
# Rebuffer ratios span orders of magnitude (0.1 % is fine, 5 % is awful).
_LOG_RATIO = frozenset({"rebuffer_ratio_7d", "rebuffer_ratio_14d", "rebuffer_ratio_28d"})
_EPS_RATIO = 1e-3


def prepare(x: dict[str, float]) -> dict[str, float]:
    """Feature transform for the linear model (module-level so pipelines pickle).

    >>> prepare({"minutes_7d": math.e - 1, "ctr_28d": 0.2})
    {'minutes_7d': 1.0, 'ctr_28d': 0.2}
    """
    out: dict[str, float] = {}
    for k, v in x.items():
        if k in _LOG1P:
            out[k] = math.log1p(max(v, 0.0))
        elif k in _LOG_RATIO:
            out[k] = math.log(max(v, 0.0) + _EPS_RATIO)
        else:
            out[k] = v
    return out


def linear(lr: float = 0.001) -> Any:
    """Log/standardise, then logistic regression with Adam: calibrated by construction (log loss).

    Adam at 1e-3 was the best of SGD 0.005-0.02, inverse-scaling SGD, AdaGrad
    and Adam when replaying bench snapshots in snapshot-time order (test AUC
    0.61 vs 0.57-0.59 on a 2,000-user run).
    """
    return (
        compose.FuncTransformer(prepare)
        | preprocessing.StandardScaler()
        | linear_model.LogisticRegression(optimizer=optim.Adam(lr))
    )


def hoeffding_tree() -> Any:
    """Hoeffding tree with naive-Bayes-adaptive leaves (extreme leaf probabilities: calibrate).

    The adaptive variant (HAT) costs ~4x more per update here (~200 us vs ~40-60 us) and
    did no better on the bench replay (test AUC 0.527 vs 0.532), so the plain tree is the
    default tree candidate.
    """
    return tree.HoeffdingTreeClassifier(grace_period=400)


def default_candidates() -> dict[str, Any]:
    """The candidate used by default: the mini-batch logistic hazard model (it also explains).

    River's ``linear()`` pipeline and ``hoeffding_tree()`` still plug in (``ChurnModel(candidates=...)``);
    on the bench they ranked worse and cost 20-50x more per label (see ``bench/results/churn.md``).
    """
    from services.churn.hazard import WindowLogistic

    return {"linear": WindowLogistic()}


def compile_estimator(est: Any) -> Any:
    """A fast scorer with ``score(x) -> float | None`` for linear estimators, else None."""
    from services.churn.hazard import WindowLogistic

    if isinstance(est, WindowLogistic):
        if not est.names:
            return None
        return CompiledTerms(est.terms(), est.b, est.clip)
    if isinstance(est, compose.Pipeline) and len(est.steps) == 3:
        return CompiledLinear(est)
    return None


class OnlinePlatt:
    """Online Platt scaling: ``p = sigmoid(a * logit(raw) + b)`` fitted by SGD on log loss.

    Starts as the identity (a=1, b=0), so an uncalibrated-but-good model is not
    hurt before labels arrive.

    >>> cal = OnlinePlatt(lr=0.05)
    >>> round(cal.predict(0.3), 6)
    0.3
    >>> for _ in range(2000): cal.learn(0.9, False)
    >>> cal.predict(0.9) < 0.5
    True
    """

    def __init__(self, lr: float = 0.01, clip: float = 1e-4, min_slope: float = 0.05) -> None:
        self.lr = lr
        self.clip = clip
        self.min_slope = min_slope
        self.a = 1.0
        self.b = 0.0

    def _logit(self, p: float) -> float:
        p = min(1.0 - self.clip, max(self.clip, p))
        return math.log(p / (1.0 - p))

    def predict(self, raw: float) -> float:
        """Calibrated probability for a raw model probability."""
        z = self.a * self._logit(raw) + self.b
        return 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, z))))

    def learn(self, raw: float, y: bool) -> None:
        """One SGD step on the log loss of the calibrated probability."""
        s = self._logit(raw)
        g = self.predict(raw) - (1.0 if y else 0.0)
        # a stays positive: calibration may flatten a ranking, never invert it (early labels
        # are all positives, which would otherwise drag a below zero).
        self.a = max(self.min_slope, self.a - self.lr * g * s)
        self.b -= self.lr * g


class CompiledTerms:
    """``sigmoid(b + sum_k w_k * clip((prepare(x)[k] - mean_k) / std_k))`` in plain Python.

    One snapshot at a time, this is several times cheaper than building a numpy row; it
    returns None unless ``x`` has exactly the features the weights know.
    """

    def __init__(
        self, terms: list[tuple[str, float, float, float]], intercept: float, clip: float
    ) -> None:
        self.terms = [
            (k, 1 if k in _LOG1P else (2 if k in _LOG_RATIO else 0), m, 1.0 / s, w)
            for k, m, s, w in terms
        ]
        self.intercept = intercept
        self.clip = clip
        self.names = frozenset(k for k, *_ in terms)

    def score(self, x: dict[str, float]) -> float | None:
        """Probability, or None if the feature names differ."""
        if len(x) != len(self.names) or not self.names.issuperset(x):
            return None
        log, log1p = math.log, math.log1p
        hi = self.clip
        lo = -hi
        z = self.intercept
        for name, kind, mean, inv, w in self.terms:
            v = x[name]
            if kind == 1:
                v = log1p(v if v > 0.0 else 0.0)
            elif kind == 2:
                v = log((v if v > 0.0 else 0.0) + _EPS_RATIO)
            v = (v - mean) * inv
            z += w * (hi if v > hi else (lo if v < lo else v))
        if z < -30:
            return 0.0
        if z > 30:
            return 1.0
        return 1.0 / (1.0 + math.exp(-z))


class CompiledLinear:
    """The linear pipeline folded into one weight per feature, for fast scoring between updates.

    ``sigmoid(b + sum_i w_i * (t_i(x) - mean_i) / std_i)`` is rewritten as
    ``sigmoid(b' + sum_i a_i * t_i(x))``; it returns exactly what River's
    ``predict_proba_one`` returns (up to float rounding) as long as the
    pipeline has not learned since :meth:`compile`. Snapshots scored every
    day vastly outnumber labels, so this keeps serving cheap.
    """

    def __init__(self, pipeline: Any) -> None:
        steps = list(pipeline.steps.values())
        scaler, lr = steps[1], steps[2]
        weights = lr.weights
        b = float(lr.intercept)
        terms: list[tuple[str, int, float]] = []
        for name, w in weights.items():
            var = float(scaler.vars.get(name, 0.0))
            if not var or not w:
                continue
            a = float(w) / var**0.5
            b -= a * float(scaler.means.get(name, 0.0))
            kind = 1 if name in _LOG1P else (2 if name in _LOG_RATIO else 0)
            terms.append((name, kind, a))
        self.terms = terms
        self.intercept = b
        self.names = frozenset(weights)

    def score(self, x: dict[str, float]) -> float | None:
        """Probability of churn, or None unless ``x`` has exactly the features the pipeline knows."""
        if len(x) != len(self.names) or not self.names.issuperset(x):
            return None
        z = self.intercept
        log, log1p = math.log, math.log1p
        for name, kind, a in self.terms:
            v = x.get(name)
            if v is None:
                continue
            if kind == 1:
                v = log1p(v if v > 0.0 else 0.0)
            elif kind == 2:
                v = log((v if v > 0.0 else 0.0) + _EPS_RATIO)
            z += a * v
        if z < -30:
            return 0.0
        if z > 30:
            return 1.0
        return 1.0 / (1.0 + math.exp(-z))
