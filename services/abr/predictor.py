"""Online model of the next chunk's throughput, with its uncertainty, learned one chunk at a time.

The model works in log space: ``log(throughput) = w . x + e``. The weights are
fitted by recursive least squares with a forgetting factor (exact online
ridge regression, so the same events in the same order always give the same
model), the error distribution ``e`` is tracked by River's streaming P2
quantiles, and sessions with no history lean on a population prior kept per
context value (network type, device, region, hour of day).

Why not River's ``BayesianLinearRegression(smoothing=...)`` for the weights: it is the same
estimator (``bench/abr/probes.py`` matches it to 5e-10 on the benchmark's stream), but its
smoothing step inverts the precision matrix at every update and has no floor for directions
the data stops exciting: its condition number reached 1e9 within 20,000 chunks there, on the
way to a singular matrix in a service that learns for days. This RLS caps its covariance.

Throughput here is the *payload* rate, bytes over the transfer time with the
round trip removed, so a download time is ``size / rate + rtt`` for any chunk
size; a harmonic mean of size/time (RTT included) under-rates small chunks.

>>> p = ThroughputPredictor()
>>> x = chunk_features([np.log(2e5)] * 4, prior=p.prior({}), buffer_s=10.0)
>>> for _ in range(300):
...     p.learn_one(x, 4e5)
>>> round(p.predict_one(x) / 4e5, 2)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import repeat

import numpy as np
from river import stats

from services.abr.rls_kernel import rls_step

FEATURES = (
    "bias",
    "last",
    "lag2",
    "lag3",
    "lag4",
    "lag5",
    "hmean5",
    "mean_all",
    "min5",
    "std5",
    "prior",
    "fresh",
    "buffer",
)
# Optional nonlinear summaries of the whole (16-chunk) history, for ``features=RICH_FEATURES``.
EXTRA_FEATURES = ("max5", "hmean_all", "ewma", "drop", "rise")
RICH_FEATURES = FEATURES + EXTRA_FEATURES
# Read from the player's progress measurement, not the chunk history: "tail" is the log payload
# rate over the final part of the last transfer (the engine sets it; "last" when not measured).
PROGRESS_FEATURES = ("tail",)
# The service's model: the chunk history and the progress tail (the tail gains +0.23 +- 0.10
# QoE per training session over 37 warm-up orders with the next-chunk model; bench/results/abr.md).
DEFAULT_FEATURES = FEATURES + PROGRESS_FEATURES
DEFAULT_LEVELS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
# 1.5 Mbit/s payload: a neutral starting point before the population is seen.
DEFAULT_PRIOR_LOG_RATE = math.log(1.5e6 / 8.0)


def small_mean(values: Sequence[float]) -> float:
    """``float(np.mean(values))`` to the last bit, without numpy's per-call cost for short lists.

    Below 8 values numpy sums left to right, as ``sum`` does; from 8 on it sums pairwise, so
    those go to numpy. Called twice per decision on the serving path.

    >>> small_mean([0.1, 0.2, 0.3]) == float(np.mean([0.1, 0.2, 0.3]))
    True
    """
    n = len(values)
    if 0 < n < 8:
        return sum(values) / n
    return float(np.mean(values))


def chunk_features(
    log_rates: Sequence[float],
    prior: float,
    buffer_s: float,
    extras: bool = True,
    tail: float | None = None,
) -> dict[str, float]:
    """Features for the next chunk from a session's past log payload rates (oldest first).

    Missing lags fall back to the most recent known value, then to the prior,
    so a cold session reads as "the population prior, repeated". ``extras``
    False leaves out ``EXTRA_FEATURES`` (summaries of the whole history that
    the default model does not read: a third of a decision's feature cost).
    ``tail`` is the log payload rate over the end of the last transfer, when the player
    measured it; without it the feature reads as the last chunk's own rate.

    >>> f = chunk_features([], prior=12.0, buffer_s=0.0)
    >>> f["last"], f["hmean5"], f["fresh"], f["tail"]
    (12.0, 12.0, 1.0, 12.0)
    >>> chunk_features([12.0, 11.0], prior=12.0, buffer_s=0.0, tail=10.5)["tail"]
    10.5
    >>> sorted(set(f) - set(chunk_features([], 12.0, 0.0, extras=False))) == sorted(EXTRA_FEATURES)
    True
    """
    recent = list(log_rates[-5:])
    n = len(log_rates)
    lags = [
        recent[-k] if k <= len(recent) else (recent[0] if recent else prior) for k in range(1, 6)
    ]
    if recent:
        # Plain math on <= 5 floats: numpy's per-call overhead would dominate the decision path.
        k = len(recent)
        hmean = -math.log(sum(math.exp(-v) for v in recent) / k)
        mean_all = math.fsum(log_rates) / n
        low = min(recent)
        centre = sum(recent) / k
        spread = math.sqrt(sum((v - centre) ** 2 for v in recent) / k) if k > 1 else 0.0
    else:
        hmean = mean_all = low = prior
        spread = 0.0
    x = {
        "bias": 1.0,
        "last": lags[0],
        "lag2": lags[1],
        "lag3": lags[2],
        "lag4": lags[3],
        "lag5": lags[4],
        "hmean5": hmean,
        "mean_all": mean_all,
        "min5": low,
        "std5": spread,
        "prior": prior,
        "fresh": 1.0 / (1.0 + n),
        "buffer": min(buffer_s, 60.0) / 60.0,
        "tail": lags[0] if tail is None else tail,
    }
    if not extras:
        return x
    if recent:
        high = max(recent)
        hmean_all = -math.log(sum(math.exp(-v) for v in log_rates) / n)
        ewma = log_rates[0]
        for v in log_rates:
            ewma += 0.4 * (v - ewma)
    else:
        high = hmean_all = ewma = prior
    x["max5"] = high
    x["hmean_all"] = hmean_all
    x["ewma"] = ewma
    x["drop"] = min(lags[0] - hmean, 0.0)
    x["rise"] = max(lags[0] - hmean, 0.0)
    return x


class PopulationPrior:
    """Running mean log payload rate per context value, for sessions without history.

    >>> pp = PopulationPrior(default=10.0)
    >>> pp.learn_one({"network": "wifi"}, 14.0)
    >>> pp.learn_one({"network": "3g"}, 12.0)
    >>> pp.predict_one({"network": "wifi"}), pp.predict_one({"network": "5g"})
    (14.0, 13.0)
    """

    def __init__(self, default: float = DEFAULT_PRIOR_LOG_RATE, max_keys: int = 10_000) -> None:
        self.default = default
        self.max_keys = max_keys
        self.overall = stats.Mean()
        self.by_key: dict[str, stats.Mean] = {}

    def learn_one(self, context: Mapping[str, object], log_rate: float) -> None:
        """Add one observed log payload rate under each of the session's context values."""
        self.overall.update(log_rate)
        for key, value in context.items():
            name = f"{key}={value}"
            mean = self.by_key.get(name)
            if mean is None:
                if len(self.by_key) >= self.max_keys:
                    continue  # bounded memory: unseen values past the cap use the overall mean
                mean = self.by_key[name] = stats.Mean()
            mean.update(log_rate)

    def predict_one(self, context: Mapping[str, object]) -> float:
        """Average of the known context values' means, else the overall mean, else the default."""
        known = [
            self.by_key[f"{k}={v}"].get() for k, v in context.items() if f"{k}={v}" in self.by_key
        ]
        if known:
            return small_mean(known)
        return float(self.overall.get()) if self.overall.n else self.default


class ThroughputPredictor:
    """Recursive-least-squares model of log payload throughput plus streaming error quantiles.

    Parameters are the whole configuration: ``forgetting`` (1.0 = never forget),
    ``ridge`` (prior precision of the weights), ``levels`` (error quantiles
    tracked online), ``default_prior`` (log bytes/s before anything is seen).
    """

    learn_prior: bool = True  # read by models unpickled from snapshots older than the option

    def __init__(
        self,
        forgetting: float = 0.999,
        ridge: float = 1.0,
        levels: Sequence[float] = DEFAULT_LEVELS,
        default_prior: float = DEFAULT_PRIOR_LOG_RATE,
        max_cov_trace: float = 1e4,
        volatility_edges: Sequence[float] = (),
        features: Sequence[str] = DEFAULT_FEATURES,
        band_feature: str = "std5",
        quantile_window: int | None = None,
        learn_prior: bool = True,
    ) -> None:
        self.forgetting = forgetting
        self.max_cov_trace = max_cov_trace
        self.ridge = ridge
        self.levels = tuple(levels)
        known = RICH_FEATURES + PROGRESS_FEATURES
        unknown = set(features) - set(known)
        if unknown or "hmean5" not in features:
            raise ValueError(f"features must include 'hmean5' and come from {known}")
        self.features = tuple(features)
        d = len(self.features)
        # Start as "predict the harmonic mean": a sane model before the first update.
        self.weights = np.zeros(d)
        self.weights[self.features.index("hmean5")] = 1.0
        self.cov = np.eye(d) / ridge
        # Error quantiles over all errors seen (P2), or over the last ``quantile_window`` only
        # (tracks a population whose volatility drifts, e.g. from one network type to another).
        self.quantile_window = quantile_window
        self.quantiles: list[stats.Quantile | stats.RollingQuantile] = [
            stats.Quantile(q)
            if quantile_window is None
            else stats.RollingQuantile(q, quantile_window)
            for q in self.levels
        ]
        # Heteroscedastic errors: one quantile set per band of recent session volatility
        # ("std5"), used once the band has seen enough errors.
        self.volatility_edges = tuple(volatility_edges)
        # The feature whose value picks the band: "std5" (volatility) or "fresh" (session age).
        self.band_feature = band_feature
        self.band_quantiles = [
            [stats.Quantile(q) for q in self.levels] for _ in range(len(self.volatility_edges) + 1)
        ]
        self.band_counts = [0] * (len(self.volatility_edges) + 1)
        self.abs_error = stats.Mean()
        self.population = PopulationPrior(default_prior)
        # False for a model whose population prior and mean error nobody reads (the next-chunk
        # model: the engine takes the prior from the main model): skips their upkeep.
        self.learn_prior = learn_prior
        self.n_learned = 0
        # Range of log rates seen so far: predictions are clamped to it (plus a margin), so a
        # poorly excited direction of the regression can never forecast an absurd rate.
        self.low = math.inf
        self.high = -math.inf

    @property
    def needs_extras(self) -> bool:
        """Whether this model reads any of ``EXTRA_FEATURES`` (as a feature or its band key)."""
        banded = bool(self.volatility_edges) and self.band_feature in EXTRA_FEATURES
        return banded or any(f in EXTRA_FEATURES for f in self.features)

    def vector(self, x: Mapping[str, float]) -> np.ndarray:
        """Feature dict -> vector in the model's fixed order (missing features read as 0)."""
        get = x.get
        return np.fromiter(map(get, self.features, repeat(0.0)), float, len(self.features))

    def prior(self, context: Mapping[str, object]) -> float:
        """Population prior log rate for a session with this context."""
        return self.population.predict_one(context)

    def predict_log(self, x: Mapping[str, float]) -> float:
        """Point prediction of the next chunk's log payload rate (log bytes/s)."""
        return self.predict_log_vector(self.vector(x))

    def predict_log_vector(self, v: np.ndarray) -> float:
        """``predict_log`` of a feature vector already built by :meth:`vector` (no rebuild)."""
        raw = float(self.weights @ v)
        if self.n_learned:
            return min(max(raw, self.low - 1.0), self.high + 1.0)
        return raw

    def predict_one(self, x: Mapping[str, float]) -> float:
        """Median next-chunk payload rate in bytes/s."""
        return math.exp(self.predict_log(x) + self.error_quantile(0.5, x))

    def _band(self, x: Mapping[str, float] | None) -> int | None:
        """Volatility band of a feature dict, if bands are configured and the band is warm."""
        if x is None or not self.volatility_edges:
            return None
        band = int(
            np.searchsorted(self.volatility_edges, x.get(self.band_feature, 0.0), side="right")
        )
        return band if self.band_counts[band] >= 50 else None

    def error_quantile(self, level: float, x: Mapping[str, float] | None = None) -> float:
        """Tracked quantile of log(actual / predicted) at one of ``levels`` (0 before data)."""
        return float(self.error_quantiles(x)[self.levels.index(level)])

    def error_quantiles(self, x: Mapping[str, float] | None = None) -> np.ndarray:
        """All tracked error quantiles in level order, for the volatility band of ``x`` if given.

        Zeros while too few errors are seen.
        """
        if self.n_learned < 20:
            return np.zeros(len(self.levels))
        band = self._band(x)
        source = self.quantiles if band is None else self.band_quantiles[band]
        return np.asarray([q.get() or 0.0 for q in source])

    def predict_download_s(self, x: Mapping[str, float], size_bytes: float, rtt_s: float) -> float:
        """Median download time of a chunk of ``size_bytes``."""
        return size_bytes / self.predict_one(x) + rtt_s

    def learn_one(
        self,
        x: Mapping[str, float],
        y: float,
        context: Mapping[str, object] | None = None,
        v: np.ndarray | None = None,
    ) -> None:
        """Update from one chunk: features before the chunk and its payload rate ``y`` (bytes/s).

        ``v``: ``vector(x)`` when the caller has it already (a model with the same features).
        """
        if y <= 0 or not math.isfinite(y):
            raise ValueError(f"throughput must be positive and finite, got {y}")
        target = math.log(y)
        if v is None:
            v = self.vector(x)
        error = target - self.predict_log_vector(v)
        if self.n_learned:
            for q in self.quantiles:
                q.update(error)
            if self.volatility_edges:
                band = int(
                    np.searchsorted(
                        self.volatility_edges, x.get(self.band_feature, 0.0), side="right"
                    )
                )
                self.band_counts[band] += 1
                for q in self.band_quantiles[band]:
                    q.update(error)
            if self.learn_prior:
                self.abs_error.update(abs(error))
        self._fit(v, target, error)
        self.low = min(self.low, target)
        self.high = max(self.high, target)
        if self.learn_prior:
            self.population.learn_one(context or {}, target)
        self.n_learned += 1

    def _fit(self, v: np.ndarray, target: float, error: float) -> None:
        """One recursive-least-squares step on feature vector ``v`` (``error`` = target - w.v).

        In place, compiled (:mod:`services.abr.rls_kernel`): the covariance is restarted at the
        prior if rounding ever breaks its positive definiteness, kept symmetric, and not
        inflated by forgetting past ``max_cov_trace``.
        """
        rls_step(self.weights, self.cov, v, error, self.forgetting, self.max_cov_trace, self.ridge)
