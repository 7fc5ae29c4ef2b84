"""The ABR service's core: sessions, the online throughput model and the MPC planner together.

This is the object the gRPC servicer and the Kafka loop call; it never
touches a broker or a socket. Telemetry (chunk downloaded) feeds
``observe_chunk``; player requests call ``select``. Everything is plain data,
so ``snapshot`` is a pickle that the service stores with its Kafka offsets.

>>> engine = AbrEngine((300, 750, 1200, 1850, 2850, 4300))
>>> engine.start_session("s1", now=0.0, context={"network": "wifi"}, max_rung=3)
>>> sizes = np.outer([300, 750, 1200, 1850, 2850, 4300], np.ones(5)) * 500.0
>>> for i in range(6):
...     engine.observe_chunk("s1", size_bytes=1.2e6, download_s=1.0, rtt_s=0.08, now=i)
>>> d = engine.select("s1", buffer_s=30.0, sizes_ahead=sizes, now=6.0)
>>> d.rung, d.reason
(3, 'cap')
"""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.abr.imitation import PolicyCorrection, action_features
from services.abr.planner import MpcPlanner, Plan
from services.abr.predictor import ThroughputPredictor, chunk_features, small_mean
from services.abr.qoe import QoE
from services.abr.session import SessionState, SessionStore

DEFAULT_LEVELS = (0.05, 0.2, 0.5, 0.8, 0.95)


@dataclass(frozen=True)
class Decision:
    """Answer to a player: rung for the next chunk, its predicted download time, and why."""

    rung: int
    predicted_download_s: float
    reason: str
    predicted_rate_bps: float


class AbrEngine:
    """Online ABR policy over many sessions.

    ``ladder_kbps`` is the bitrate ladder; ``planner`` (default: 5-chunk MPC on
    QoE_lin), ``predictor`` and ``store`` (default: 300 s idle TTL, 100k-session
    LRU) may be supplied; ``scenario_levels`` are the error quantiles of the
    predictor used as throughput scenarios; ``default_rtt_s`` is used when a
    request or event carries no RTT.
    """

    # Class-level defaults of the options added after snapshots may have been taken: an engine
    # unpickled from an older snapshot lacks these instance attributes and reads them here.
    session_clip: tuple[float, float] = (0.5, 3.0)
    level_weights: np.ndarray | None = None
    drop_guard: float = 0.0
    regime_edges: tuple[float, ...] = ()
    regime_min: int = 200
    regime_models: list[ThroughputPredictor] = []  # read-only fallback, never appended to
    reveal_noise: float = 0.0
    reveal_prior: float = 4.0
    step_var: float = 0.1
    step_n: int = 0

    def __init__(
        self,
        ladder_kbps: Sequence[float],
        planner: MpcPlanner | None = None,
        predictor: ThroughputPredictor | None = None,
        store: SessionStore | None = None,
        scenario_levels: Sequence[float] = DEFAULT_LEVELS,
        default_rtt_s: float = 0.08,
        chunk_s: float = 4.0,
        session_scale: float = 0.0,
        session_clip: tuple[float, float] = (0.5, 3.0),
        target_chunks: int = 4,
        outage: tuple[float, float] | None = None,
        next_predictor: ThroughputPredictor | None = None,
        correction: PolicyCorrection | None = None,
        first_shift: float = 0.0,
        risk: tuple[float, float] = (0.0, 0.0),
        risk_buffer_s: float = 20.0,
        startup: tuple[int, float] = (0, 0.0),
        startup_risk: float = 0.0,
        level_weights: Sequence[float] | None = None,
        regime_edges: Sequence[float] = (),
        regime_min: int = 200,
        drop_guard: float = 0.65,
        reveal_noise: float = 0.0,
        reveal_prior: float = 4.0,
    ) -> None:
        self.ladder_kbps = np.asarray(ladder_kbps, dtype=float)
        self.planner = planner or MpcPlanner(QoE.linear(ladder_kbps), chunk_s=chunk_s)
        self.predictor = predictor or ThroughputPredictor()
        missing = set(scenario_levels) - set(self.predictor.levels)
        if missing:
            raise ValueError(f"scenario levels {sorted(missing)} are not tracked by the predictor")
        self.store = store or SessionStore()
        self.scenario_levels = tuple(scenario_levels)
        self._level_index = [self.predictor.levels.index(q) for q in self.scenario_levels]
        # Regimes: sessions are split by their own volatility (std of the chunk-to-chunk change
        # of log rate over their history) and each band gets its own copy of the predictor, used
        # once it has learned ``regime_min`` chunks; the shared predictor learns from all.
        # After a sudden drop (last chunk's rate below ``drop_guard`` x the 5-chunk harmonic
        # mean) the first chunk's scenarios are centred on the last rate, not the forecast, which
        # still leans on the history before the drop (0: off). On by default at 0.65: the chunk a
        # decision commits to is the one a fresh drop hits first (training-trace score over ten
        # warm-up orders +0.30 +- 0.11, again +0.31 +- 0.14 on fresh ones: bench/results/abr.md).
        # It applies only without a ``next_predictor``: the service's engines have one, which
        # forecasts that first chunk itself from the player's measurement of the last
        # transfer's end (the "tail" feature), fresher than any chunk total.
        self.drop_guard = drop_guard
        self.regime_edges = tuple(regime_edges)
        self.regime_min = regime_min
        self.regime_models = (
            [copy.deepcopy(self.predictor) for _ in range(len(self.regime_edges) + 1)]
            if self.regime_edges
            else []
        )
        self.default_rtt_s = default_rtt_s
        self.chunk_s = chunk_s
        self.session_scale = session_scale
        # Bounds of the session/population error ratio that scales the scenarios' spread.
        self.session_clip = (float(session_clip[0]), float(session_clip[1]))
        if not 1 <= target_chunks <= self.store.history:
            raise ValueError("target_chunks must be between 1 and the session history length")
        self.target_chunks = target_chunks
        self.outage = outage
        # Optional second model of the very next chunk alone (the one the decision commits to);
        # the main model then covers the rest of the horizon.
        self.next_predictor = next_predictor
        # Optional learned correction of the planner's per-rung values (imitation of an expert).
        self.correction = correction
        # Log-rate shift of the first chunk's scenarios only (< 0: cautious about the chunk the
        # decision commits to, while the rest of the plan can still be revised).
        self.first_shift = first_shift
        # Exponential tilt of the scenario weights (entropic risk): weight ~ exp(-lambda z) for a
        # scenario z standard deviations above the mean log rate, lambda going linearly from
        # risk[0] on an empty buffer to risk[1] at ``risk_buffer_s`` and above. lambda > 0 leans
        # on the slow scenarios (a stall is near when little is buffered), < 0 on the fast ones.
        self.risk = (float(risk[0]), float(risk[1]))
        self.risk_buffer_s = risk_buffer_s
        # (chunks, blend): while a session has seen at most ``chunks`` chunks, plan with this
        # closed-loop blend (the open-loop plan assumes a slow start persists over the whole
        # horizon, though the player would see it after one chunk and step down then).
        self.startup = (int(startup[0]), float(startup[1]))
        # Scenario tilt (as ``risk``) for those first chunks instead of the buffer-driven one.
        self.startup_risk = startup_risk
        # Fixed scenario weights (one per level) instead of uniform ones, e.g. the trapezoid
        # weights that make the five quantiles a proper discretisation of the distribution.
        if level_weights is not None and len(level_weights) != len(self.scenario_levels):
            raise ValueError("level_weights needs one weight per scenario level")
        self.level_weights = (
            None if level_weights is None else np.asarray(level_weights, float) / sum(level_weights)
        )
        # Partial reveal (0: off): the plan's value per first rung lets the rest of the plan adapt
        # to what the first chunk will show, the chunk's log rate taken as a look at the scenario
        # with noise ``reveal_noise`` x the session's chunk-to-chunk log-rate sd (its mean square
        # over the history, shrunk to the population's with the weight of ``reveal_prior`` steps).
        # A calm session's next chunk says much about the rest of the horizon, a volatile
        # session's little, so the planner counts on re-planning only as far as it can. Off by
        # default: at 2 it won the screen over ten warm-up orders (+0.27 +- 0.16) but not 16
        # fresh orders (-0.04 +- 0.14; bench/results/abr.md, notes). Exact reveal (noise 0) is
        # too hopeful: the scenarios are constant rates the next chunk only hints at.
        self.reveal_noise = reveal_noise
        self.reveal_prior = reveal_prior
        self.step_var = 0.1  # population mean square of the chunk-to-chunk log-rate step
        self.step_n = 0

    # -- session lifecycle -------------------------------------------------
    def start_session(
        self,
        session_id: str,
        *,
        now: float | None = None,
        context: Mapping[str, object] | None = None,
        max_rung: int | None = None,
    ) -> None:
        """Open (or restart) a session with its context (network, device, region, hour) and cap."""
        self.store.open(session_id, _now(now), context, max_rung)

    def end_session(self, session_id: str) -> bool:
        """Forget a session; True if it was known."""
        return self.store.close(session_id)

    def expire(self, now: float | None = None) -> int:
        """Drop idle sessions; returns how many remain."""
        return len(self.store.expire(_now(now)))

    def _session(self, session_id: str, now: float) -> SessionState:
        state = self.store.get(session_id, now)
        return state if state is not None else self.store.open(session_id, now)

    # -- learning ----------------------------------------------------------
    def features(self, state: SessionState, buffer_s: float | None = None) -> dict[str, float]:
        """Model features for a session's next chunk (read-only)."""
        prior = self.predictor.prior(state.context)
        level = state.buffer_s if buffer_s is None else buffer_s
        return chunk_features(
            list(state.log_rates), prior, level, self._needs_extras(), state.tail_log_rate
        )

    def _needs_extras(self) -> bool:
        """Whether any of the engine's models reads the whole-history feature summaries."""
        needs = self.__dict__.get("_extras")  # cached; absent in snapshots of older engines
        if needs is None:
            models = [self.predictor, *self.regime_models]
            if self.next_predictor is not None:
                models.append(self.next_predictor)
            needs = self.__dict__["_extras"] = any(m.needs_extras for m in models)
        return bool(needs)

    def observe_chunk(
        self,
        session_id: str,
        *,
        size_bytes: float,
        download_s: float,
        rtt_s: float | None = None,
        buffer_s: float | None = None,
        rung: int | None = None,
        now: float | None = None,
        tail_bytes: float = 0.0,
        tail_s: float = 0.0,
    ) -> None:
        """Learn from one chunk-downloaded event, then append it to the session's history.

        ``tail_bytes`` over ``tail_s``: the payload received over the final part of the transfer,
        as the player measured it (0: not measured; the session's ``tail`` then reads as the
        chunk's own rate).
        """
        if size_bytes <= 0 or download_s <= 0 or not math.isfinite(download_s):
            raise ValueError("size_bytes and download_s must be positive")
        problem = tail_problem(size_bytes, download_s, tail_bytes, tail_s)
        if problem:
            raise ValueError(problem)
        state = self._session(session_id, _now(now))
        rtt = self.default_rtt_s if rtt_s is None else rtt_s
        # Floor the transfer time: a chunk can never arrive faster than 1 ms of payload.
        rate = size_bytes / max(download_s - rtt, 1e-3)
        x = self.features(state)
        model = self._model(state) if self.regime_models else self.predictor
        v = model.vector(x)
        state.errors.append(math.log(rate) - model.predict_log_vector(v))
        state.pending.append(x)
        if self.next_predictor is not None:
            shared = self.next_predictor.features == model.features
            self.next_predictor.learn_one(x, rate, state.context, v if shared else None)
        if state.log_rates:
            step = math.log(rate) - state.log_rates[-1]
            self.step_n += 1
            self.step_var += max(1.0 / self.step_n, 1e-3) * (step * step - self.step_var)
        state.log_rates.append(math.log(rate))
        k = self.target_chunks
        if len(state.pending) >= k:
            # The planner holds one rate over its horizon, so the model learns the harmonic-mean
            # payload rate of the k chunks that followed each feature snapshot.
            recent = list(state.log_rates)[-k:]
            target = k / sum(math.exp(-v) for v in recent)
            pending = state.pending.popleft()
            self.predictor.learn_one(pending, target, state.context)
            regime = self._regime(state)
            if regime is not None:
                self.regime_models[regime].learn_one(pending, target, state.context)
        state.chunks += 1
        state.tail_log_rate = (
            math.log(tail_bytes / tail_s) if tail_bytes > 0 and tail_s > 0 else None
        )
        if buffer_s is not None:
            state.buffer_s = buffer_s
        if rung is not None:
            state.last_rung = rung

    def _regime(self, state: SessionState) -> int | None:
        """Volatility band of a session (None: no regimes, or too little history)."""
        if not self.regime_edges or len(state.log_rates) < 4:
            return None
        rates = list(state.log_rates)
        steps = [b - a for a, b in itertools.pairwise(rates)]
        centre = sum(steps) / len(steps)
        vol = math.sqrt(sum((v - centre) ** 2 for v in steps) / len(steps))
        return sum(vol >= edge for edge in self.regime_edges)

    def _model(self, state: SessionState) -> ThroughputPredictor:
        """The predictor for this session: its regime's once warm, else the shared one."""
        regime = self._regime(state)
        if regime is None or self.regime_models[regime].n_learned < self.regime_min:
            return self.predictor
        return self.regime_models[regime]

    # -- deciding ----------------------------------------------------------
    def scenarios(self, state: SessionState, buffer_s: float) -> np.ndarray:
        """Payload-rate scenarios (bytes/s) for the next chunks, one per error quantile."""
        x = self.features(state, buffer_s)
        model = self._model(state) if self.regime_models else self.predictor
        v = model.vector(x)
        mu = model.predict_log_vector(v)
        errors = model.error_quantiles(x)[self._level_index]
        if self.session_scale and len(state.errors) >= 2 and self.predictor.abs_error.n:
            # A session more volatile than the population gets proportionally wider scenarios.
            ratio = small_mean([abs(e) for e in state.errors]) / max(
                self.predictor.abs_error.get(), 1e-6
            )
            centre = float(np.median(errors))
            errors = (
                centre
                + (errors - centre)
                * float(np.clip(ratio, *self.session_clip)) ** self.session_scale
            )
        rates = np.exp(mu + errors)
        if (
            self.drop_guard
            and self.next_predictor is None
            and state.log_rates
            and x["last"] - x["hmean5"] < math.log(self.drop_guard)
            and x["last"] < mu
        ):
            per_chunk = np.repeat(rates[:, None], self.planner.horizon, axis=1)
            per_chunk[:, 0] = np.exp(x["last"] + errors)
            return per_chunk
        if self.first_shift and self.next_predictor is None:
            per_chunk = np.repeat(rates[:, None], self.planner.horizon, axis=1)
            per_chunk[:, 0] *= math.exp(self.first_shift)
            return per_chunk
        if self.next_predictor is None:
            return rates
        nxt = self.next_predictor
        nv = v if nxt.features == model.features else nxt.vector(x)
        first = np.exp(nxt.predict_log_vector(nv) + nxt.error_quantiles(x)[self._level_index])
        per_chunk = np.empty((len(rates), self.planner.horizon))
        per_chunk[:] = rates[:, None]
        per_chunk[:, 0] = first
        return per_chunk

    def select(
        self,
        session_id: str,
        *,
        buffer_s: float,
        sizes_ahead: np.ndarray | None = None,
        now: float | None = None,
        max_rung: int | None = None,
        last_rung: int | None = None,
        rtt_s: float | None = None,
        video_continues: bool = True,
        chunks_left: int | None = None,
    ) -> Decision:
        """Rung for the session's next chunk. Never mutates the model.

        ``sizes_ahead`` is (rungs x chunks ahead) in bytes; without it the
        nominal size bitrate x chunk length is assumed. ``buffer_s`` 0 after
        some chunks means a seek. ``video_continues`` False near the end of the
        content turns off the value of buffer left after the horizon; ``chunks_left`` (chunks
        of the content still to fetch, None if unknown) lets the planner taper that value.
        """
        state = self._session(session_id, _now(now))
        if sizes_ahead is None:
            nominal = self.ladder_kbps * 1000.0 / 8.0 * self.chunk_s
            sizes_ahead = np.repeat(nominal[:, None], self.planner.horizon, axis=1)
        cap = max_rung if max_rung is not None else state.max_rung
        last = last_rung if last_rung is not None else state.last_rung
        if last is None:
            last = 0
        rates = self.scenarios(state, buffer_s)
        young = state.chunks <= self.startup[0] and bool(self.startup[0] or self.startup[1])
        reveal_sd = self.reveal_sd(state) if self.reveal_noise else None
        weights = self.scenario_weights(
            rates, buffer_s, self.startup_risk if young and self.startup_risk else None
        )
        if weights is None and self.level_weights is not None:
            weights = self.level_weights
        if self.outage is not None:
            # One extra pessimistic scenario: the link collapses to a fraction of the worst case.
            factor, mass = self.outage
            if rates.ndim == 2:  # per-chunk scenarios (drop guard): collapse each chunk's worst
                rates = np.vstack([rates, rates.min(axis=0) * factor])
            else:
                rates = np.append(rates, rates.min() * factor)
            n = len(rates) - 1
            base = np.full(n, 1.0 / n) if weights is None else weights
            weights = np.append(base * (1.0 - mass), mass)
        plan = self.planner.plan(
            buffer_s=buffer_s,
            last_rung=last,
            sizes=sizes_ahead,
            rates=rates,
            weights=weights,
            rtt_s=self.default_rtt_s if rtt_s is None else rtt_s,
            max_rung=cap,
            video_continues=video_continues,
            chunks_after=None
            if chunks_left is None
            else max(chunks_left - self.planner.horizon, 0),
            empty_buffer_reason="seek" if state.chunks else "startup",
            adaptive=self.startup[1] if young else 1.0 if reveal_sd is not None else None,
            reveal_sd=reveal_sd,
        )
        rung, reason, predicted = plan.rung, plan.reason, plan.predicted_download_s
        if self.correction is not None:
            rung = self._corrected(state, plan, buffer_s, last, rates, sizes_ahead, rtt_s)
            if rung != plan.rung:
                reason = "learned correction"
                predicted *= float(sizes_ahead[rung, 0] / sizes_ahead[plan.rung, 0])
        state.last_rung = rung
        return Decision(rung, predicted, reason, self._median(rates))

    def reveal_sd(self, state: SessionState) -> float:
        """Log-rate noise of the next chunk as a look at the scenario (see ``reveal_noise``).

        >>> engine = AbrEngine((300, 750), reveal_noise=2.0, reveal_prior=4.0)
        >>> state = SessionState("s")
        >>> round(engine.reveal_sd(state), 4)  # no history: the population's (prior 0.1)
        0.6325
        >>> state.log_rates.extend([0.0, 0.0, 0.0, 0.0, 0.0])  # four flat steps: half way down
        >>> round(engine.reveal_sd(state), 4)
        0.4472
        """
        rates = list(state.log_rates)
        steps = [b - a for a, b in itertools.pairwise(rates)]
        n = len(steps)
        own = sum(v * v for v in steps)
        var = (own + self.reveal_prior * self.step_var) / (n + self.reveal_prior)
        return max(self.reveal_noise * math.sqrt(var), 1e-3)

    def scenario_weights(
        self, rates: np.ndarray, buffer_s: float, tilt: float | None = None
    ) -> np.ndarray | None:
        """Tilted scenario weights for this buffer level (None: uniform, the planner's default).

        >>> engine = AbrEngine((300, 750), risk=(1.0, 0.0), risk_buffer_s=10.0)
        >>> rates = np.array([1e5, 2e5, 4e5])
        >>> engine.scenario_weights(rates, 0.0).round(3).tolist()  # empty buffer: lean low
        [0.725, 0.213, 0.063]
        >>> engine.scenario_weights(rates, 30.0) is None  # full enough: plain expectation
        True
        """
        low, high = self.risk
        lam = low + (high - low) * min(max(buffer_s, 0.0) / self.risk_buffer_s, 1.0)
        if tilt is not None:
            lam = tilt
        if lam == 0.0:
            return None
        logs = np.log(rates[:, 0] if rates.ndim == 2 else rates)
        spread = float(np.std(logs))
        if spread <= 0.0:
            return None
        weights = np.exp(-lam * (logs - logs.mean()) / spread)
        return weights / weights.sum()

    def _corrected(
        self,
        state: SessionState,
        plan: Plan,
        buffer_s: float,
        last: int,
        rates: np.ndarray,
        sizes: np.ndarray,
        rtt_s: float | None,
    ) -> int:
        """Argmax of the planner's per-rung scores plus the learned correction."""
        assert self.correction is not None
        first = rates[:, 0] if rates.ndim == 2 else rates
        rtt = self.default_rtt_s if rtt_s is None else rtt_s
        low, high = float(np.min(first)), float(np.max(first))
        x = action_features(
            len(self.ladder_kbps),
            buffer_s=buffer_s,
            last_rung=last,
            download_med_s=sizes[:, 0] / self._median(rates) + rtt,
            download_low_s=sizes[:, 0] / low + rtt,
            spread=math.log(high / low),
            chunks_seen=state.chunks,
        )
        scores = np.asarray(plan.scores)
        state.policy_x, state.policy_scores = x, scores
        return int(np.argmax(scores + self.correction.predict_one(x)))

    def _median(self, rates: np.ndarray) -> float:
        """Median scenario rate (the 0.5 level when it is a scenario, else the middle one)."""
        if rates.ndim == 2:
            rates = rates[:, 0]
        if 0.5 in self.scenario_levels:
            return float(rates[self.scenario_levels.index(0.5)])
        return float(np.sort(rates)[len(rates) // 2])

    # -- persistence -------------------------------------------------------
    def snapshot(self) -> bytes:
        """Pickle of the whole engine (model and sessions) to store with the Kafka offsets."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def restore(blob: bytes) -> AbrEngine:
        """Inverse of ``snapshot``."""
        engine = pickle.loads(blob)
        if not isinstance(engine, AbrEngine):
            raise TypeError("snapshot does not hold an AbrEngine")
        return engine


def tail_problem(size_bytes: float, download: float, tail_bytes: float, tail: float) -> str:
    """What is wrong with a chunk's progress measurement ("" if nothing, or if not measured).

    The tail is the payload received over the final ``tail`` of the transfer (``download`` and
    ``tail`` in one unit): both parts or neither, non-negative, no longer than the download and
    no more than the chunk.

    >>> tail_problem(1e6, 2.0, 2.5e5, 0.5)
    ''
    >>> tail_problem(1e6, 2.0, 0.0, 0.0)
    ''
    >>> tail_problem(1e6, 2.0, 2.5e5, 3.0)
    'tail_ms must not exceed download_ms'
    """
    if not (math.isfinite(tail_bytes) and math.isfinite(tail)) or tail_bytes < 0 or tail < 0:
        return "tail_bytes and tail_ms must be finite and non-negative"
    if (tail_bytes > 0) != (tail > 0):
        return "tail_bytes and tail_ms come together: both set or both 0"
    if tail > download:
        return "tail_ms must not exceed download_ms"
    if tail_bytes > size_bytes:
        return "tail_bytes must not exceed the chunk's bytes"
    return ""


def _now(now: float | None) -> float:
    return time.monotonic() if now is None else now
