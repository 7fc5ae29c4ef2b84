"""The service's scheme as the benchmark builds it, and every variant measured on the way."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.abr.probes import (
    AveragingPlanner,
    ConditionalEngine,
    RecordingPredictor,
    RiverBlrPredictor,
)
from services.abr.engine import AbrEngine
from services.abr.planner import MpcPlanner
from services.abr.predictor import (
    DEFAULT_FEATURES,
    FEATURES,
    PROGRESS_FEATURES,
    RICH_FEATURES,
    ThroughputPredictor,
)
from services.abr.qoe import QoE
from services.abr.session import SessionStore
from services.abr.terminal import TerminalValue

ROOT = Path(__file__).resolve().parents[2]

WIDE = (0.05, 0.2, 0.5, 0.8, 0.95)
# Terminal value fitted by ``python -m bench.abr.terminal`` (rollouts on the training traces).
TERMINAL_TABLE = "bench/abr/terminal_lin_envivio.json"


@dataclass(frozen=True)
class Variant:
    """One configuration of the service's predictor + planner."""

    label: str
    what: str
    levels: tuple[float, ...] = WIDE
    blocks: tuple[int, ...] = (1, 1, 3)
    terminal_weight: float = 0.3
    terminal_buffer_s: float = 20.0
    terminal_shape: str = "capped"
    target_chunks: int = 4
    forgetting: float = 0.999
    session_scale: float = 0.0
    session_clip: tuple[float, float] = (0.5, 3.0)
    outage: tuple[float, float] | None = None
    volatility_edges: tuple[float, ...] = ()
    next_model: bool = False
    adaptive: float = 0.0
    reveal: tuple[tuple[int, ...], ...] | None = None
    end_taper_s: float = 0.0
    first_switch_extra: float = 0.0
    terminal_switch: float = 0.0
    features: tuple[str, ...] = FEATURES
    band_feature: str = "std5"
    first_shift: float = 0.0
    risk: tuple[float, float] = (0.0, 0.0)
    risk_buffer_s: float = 20.0
    switch_weight: float = 1.3
    up_switch_weight: float | None = None
    rebuffer_weight: float = 1.0
    startup: tuple[int, float] = (0, 0.0)
    startup_risk: float = 0.0
    # Path of a fitted TerminalValue table (JSON) replacing the hand-made buffer value; it is
    # scaled by terminal_weight / 0.3, so the replicas' jitter of the weight applies to it too.
    terminal_table: str | None = None
    terminal_rung_scale: float | None = None
    level_weights: tuple[float, ...] | None = None
    regime_edges: tuple[float, ...] = ()
    quantile_window: int | None = None
    drop_guard: float = 0.65
    discount: float = 1.0
    # Partial reveal (AbrEngine.reveal_noise; 0: off) and its shrinkage to the population.
    reveal_noise: float = 0.0
    reveal_prior: float = 4.0
    warmup: bool = True
    # Probes (bench/abr/probes.py): neighbour-conditioned error quantiles over the k nearest
    # snapshots (0: off) mixed in at ``conditional_blend``; planners voting with their values,
    # one per (terminal weight, switch weight) multiplier pair (empty: the one planner).
    conditional_k: int = 0
    conditional_blend: float = 1.0
    vote: tuple[tuple[float, float], ...] = ()
    # River's BayesianLinearRegression as the mean model (the same estimator as the RLS).
    river_blr: bool = False

    def _planner(self, ladder_kbps: tuple[float, ...]) -> MpcPlanner:
        return MpcPlanner(
            QoE.linear(ladder_kbps),
            blocks=self.blocks,
            terminal_weight=self.terminal_weight,
            terminal_buffer_s=self.terminal_buffer_s,
            terminal_shape=self.terminal_shape,
            adaptive=self.adaptive,
            reveal=self.reveal,
            end_taper_s=self.end_taper_s,
            first_switch_extra=self.first_switch_extra,
            discount=self.discount,
            terminal_switch=self.terminal_switch,
            switch_weight=self.switch_weight,
            up_switch_weight=self.up_switch_weight,
            rebuffer_weight=self.rebuffer_weight,
            terminal_value=None
            if self.terminal_table is None
            else TerminalValue.load(ROOT / self.terminal_table).scaled(
                self.terminal_weight / 0.3, self.terminal_rung_scale
            ),
        )

    def _predictor(self) -> ThroughputPredictor:
        kind = (
            RiverBlrPredictor
            if self.river_blr
            else RecordingPredictor
            if self.conditional_k
            else ThroughputPredictor
        )
        return kind(
            forgetting=self.forgetting,
            volatility_edges=self.volatility_edges,
            features=self.features,
            band_feature=self.band_feature,
            quantile_window=self.quantile_window,
        )

    def build(self, ladder_kbps: tuple[float, ...]) -> AbrEngine:
        """A fresh engine for this configuration."""
        planner: MpcPlanner | AveragingPlanner = self._planner(ladder_kbps)
        if self.vote:
            planner = AveragingPlanner(
                [
                    replace(
                        self,
                        terminal_weight=self.terminal_weight * t,
                        switch_weight=self.switch_weight * s,
                    )._planner(ladder_kbps)
                    for t, s in self.vote
                ]
            )
        engine = (ConditionalEngine if self.conditional_k else AbrEngine)(
            ladder_kbps,
            planner=planner,  # type: ignore[arg-type]  # AveragingPlanner is duck-typed
            predictor=self._predictor(),
            store=SessionStore(idle_ttl_s=3600.0, max_sessions=1000),
            scenario_levels=self.levels,
            session_scale=self.session_scale,
            session_clip=self.session_clip,
            target_chunks=self.target_chunks,
            outage=self.outage,
            first_shift=self.first_shift,
            risk=self.risk,
            risk_buffer_s=self.risk_buffer_s,
            startup=self.startup,
            startup_risk=self.startup_risk,
            level_weights=self.level_weights,
            regime_edges=self.regime_edges,
            drop_guard=self.drop_guard,
            reveal_noise=self.reveal_noise,
            reveal_prior=self.reveal_prior,
            next_predictor=ThroughputPredictor(
                forgetting=self.forgetting, features=self.features, learn_prior=False
            )
            if self.next_model
            else None,
        )
        if isinstance(engine, ConditionalEngine):
            engine.k, engine.blend = self.conditional_k, self.conditional_blend
        return engine


# The default before the progress tail (chunk history only; drop guard 0.65): the base of the
# rows measured on it, which keep the configurations they measured.
_GUARDED = Variant(
    "chunk history only",
    "the previous default: q .05-.95, terminal 0.3/s to 20 s, 4-chunk target, moves (1,1,3),"
    " RLS forgetting 0.999, switches planned at 1.3x their QoE cost, drop guard 0.65 (best over"
    " ten warm-up orders); the forecast reads chunk totals only",
)

DEFAULT = replace(
    _GUARDED,
    label="service",
    what="chosen: the previous default (q .05-.95, terminal 0.3/s to 20 s, moves (1,1,3),"
    " switches at 1.3x) reading the player's progress measurement (payload rate over the last"
    " 0.5 s of the previous transfer), with a next-chunk model for the chunk a decision commits"
    " to (+0.23 +- 0.10 over 37 warm-up orders of the training traces)",
    features=DEFAULT_FEATURES,
    next_model=True,
)

_PREVIOUS = replace(_GUARDED, switch_weight=1.0, drop_guard=0.0)

_EXHAUSTIVE = replace(
    _PREVIOUS, blocks=(1, 1, 1, 1, 1), terminal_weight=0.0, target_chunks=1, forgetting=0.9999
)

# Every idea measured, in the order tried; the runner re-measures each one.
ABLATION = (
    _GUARDED,
    replace(
        _EXHAUSTIVE,
        label="median only",
        what="RLS point forecast, no uncertainty, exhaustive 6^5",
        levels=(0.5,),
    ),
    replace(
        _EXHAUSTIVE,
        label="q .1-.9",
        what="expected QoE over error quantiles .1/.3/.5/.7/.9",
        levels=(0.1, 0.3, 0.5, 0.7, 0.9),
    ),
    replace(
        _EXHAUSTIVE, label="q .2/.5/.8", what="three central quantiles", levels=(0.2, 0.5, 0.8)
    ),
    replace(_EXHAUSTIVE, label="q .05-.95", what="wider tails .05/.2/.5/.8/.95"),
    replace(
        _EXHAUSTIVE,
        label="q .01-.8",
        what="heavier low tail .01/.05/.2/.5/.8",
        levels=(0.01, 0.05, 0.2, 0.5, 0.8),
    ),
    replace(
        _EXHAUSTIVE,
        label="outage scenario",
        what="q .05-.95 + a 3% scenario at 0.2x the worst",
        outage=(0.2, 0.03),
    ),
    replace(
        _EXHAUSTIVE,
        label="session scaling",
        what="q .05-.95 widened by session/population error ratio^0.5",
        session_scale=0.5,
    ),
    replace(
        _EXHAUSTIVE,
        label="+ terminal 0.3",
        what="q .05-.95 + buffer value 0.3/s up to 20 s at the horizon",
        terminal_weight=0.3,
    ),
    replace(
        _EXHAUSTIVE,
        label="terminal exp",
        what="saturating terminal value 20(1-e^(-b/20))",
        terminal_weight=0.3,
        terminal_shape="exp",
    ),
    replace(
        _EXHAUSTIVE,
        label="+ 3-chunk target",
        what="model learns the harmonic mean of the next 3 chunks",
        terminal_weight=0.3,
        target_chunks=3,
    ),
    replace(
        _EXHAUSTIVE,
        label="4-chunk target",
        what="... of the next 4 chunks",
        terminal_weight=0.3,
        target_chunks=4,
    ),
    replace(_PREVIOUS, label="horizon 6", what="moves (1,1,1,1,2)", blocks=(1, 1, 1, 1, 2)),
    replace(_PREVIOUS, label="horizon 8", what="moves (1,1,2,4)", blocks=(1, 1, 2, 4)),
    replace(
        _PREVIOUS,
        label="moves (1,1,1,2)",
        what="the previous default: 4 moves, the last held 2 chunks (1296 sequences)",
        blocks=(1, 1, 1, 2),
    ),
    replace(
        _PREVIOUS,
        label="forgetting .9999",
        what="slower RLS forgetting 0.9999",
        forgetting=0.9999,
    ),
    replace(
        _PREVIOUS,
        label="volatility bands",
        what="error quantiles per band of recent volatility (std5 < .1, < .3, >= .3)",
        volatility_edges=(0.1, 0.3),
    ),
    replace(
        _PREVIOUS,
        label="next-chunk model",
        what="second RLS model for the first chunk of the plan",
        next_model=True,
    ),
    replace(
        _PREVIOUS, label="forgetting .998", what="faster RLS forgetting 0.998", forgetting=0.998
    ),
    replace(
        _PREVIOUS,
        label="terminal to 15 s",
        what="buffer value capped at 15 s",
        terminal_buffer_s=15.0,
    ),
    replace(
        _PREVIOUS,
        label="closed-loop blend",
        what="half open-loop, half E_s[max over the rest] per first rung (re-planning credited)",
        adaptive=0.5,
    ),
    replace(
        _PREVIOUS,
        label="terminal switch",
        what="0.3 x expected gap between the final rung and each scenario's sustainable rung",
        terminal_switch=0.3,
    ),
    replace(
        _PREVIOUS,
        label="rich features",
        what="+ max5, harmonic mean of 16, EWMA, recent drop / rise",
        features=RICH_FEATURES,
    ),
    replace(
        _PREVIOUS,
        label="age bands",
        what="error quantiles per session age (< 3, 3-9, >= 10 chunks seen)",
        volatility_edges=(0.1, 0.25),
        band_feature="fresh",
    ),
    replace(
        _PREVIOUS,
        label="cautious first chunk",
        what="first chunk's scenarios 10% lower (log shift -0.1), the rest as predicted",
        first_shift=-0.1,
    ),
    replace(
        _GUARDED,
        label="switch weight 1.0",
        what="the previous default: switches planned at their QoE cost",
        switch_weight=1.0,
    ),
    replace(
        _GUARDED,
        label="switch weight 1.7",
        what="switches planned at 1.7x their QoE cost",
        switch_weight=1.7,
    ),
    replace(
        _GUARDED,
        label="up-switch weight",
        what="only up-switches planned at 1.3x their QoE cost, down-switches at 1x",
        switch_weight=1.0,
        up_switch_weight=1.3,
    ),
    replace(
        _GUARDED,
        label="buffer risk tilt",
        what="scenario weights tilted exp(-lambda z), lambda 0.5 on an empty buffer to -0.3 at 20 s",
        risk=(0.5, -0.3),
    ),
    replace(
        _GUARDED,
        label="startup closed loop",
        what="first 4 chunks planned with the closed-loop value (E_s[max over the rest])",
        startup=(4, 1.0),
    ),
    replace(
        _GUARDED,
        label="startup tilt",
        what="first 2 chunks: scenario weights tilted toward the fast ones (lambda -0.5)",
        startup=(2, 0.0),
        startup_risk=-0.5,
    ),
    replace(
        _GUARDED,
        label="learned terminal",
        what="terminal value fitted by rollouts of the policy on the training traces"
        " (buffer x rung x rate band, bench/abr/terminal.py) instead of 0.3/s to 20 s",
        terminal_table=TERMINAL_TABLE,
    ),
    replace(
        _GUARDED,
        label="learned terminal x0.5",
        what="its buffer values halved, no rung term",
        terminal_table=TERMINAL_TABLE,
        terminal_weight=0.15,
        terminal_rung_scale=0.0,
    ),
    replace(
        _GUARDED,
        label="scenario tree",
        what="first rung valued by a two-stage tree: the first chunk tells"
        " {.05,.2} / {.5} / {.8,.95} apart, the rest of the plan adapts per group",
        adaptive=1.0,
        reveal=((0, 1), (2,), (3, 4)),
    ),
    replace(
        _GUARDED,
        label="end taper",
        what="buffer value capped at 2 s per chunk left after the horizon (spend it at the end)",
        end_taper_s=2.0,
    ),
    replace(
        _GUARDED,
        label="trapezoid weights",
        what="scenario weights .125/.225/.3/.225/.125 (a proper discretisation) instead of 1/5",
        level_weights=(0.125, 0.225, 0.3, 0.225, 0.125),
    ),
    replace(
        _GUARDED,
        label="first-move hysteresis",
        what="the first move's switch charged 0.2x its cost on top",
        first_switch_extra=0.2,
    ),
    replace(
        _GUARDED,
        label="session narrowing",
        what="scenarios narrowed (never widened) by session/population error ratio^0.5",
        session_scale=0.5,
        session_clip=(0.3, 1.0),
    ),
    replace(
        _GUARDED,
        label="drop band",
        what="error quantiles apart after a drop (last rate < 0.78x the 5-chunk harmonic mean)",
        volatility_edges=(-0.25,),
        band_feature="drop",
    ),
    replace(
        _GUARDED,
        label="moves (1,2,2)",
        what="the 2nd and 3rd moves held 2 chunks each",
        blocks=(1, 2, 2),
    ),
    replace(
        _GUARDED,
        label="volatility regimes",
        what="a predictor per band of session volatility (std of chunk-to-chunk log-rate"
        " change < / >= 0.15), the shared one until a band has learned 200 chunks",
        regime_edges=(0.15,),
    ),
    replace(
        _GUARDED,
        label="rolling quantiles",
        what="error quantiles over the last 1000 errors (River RollingQuantile) instead of all",
        quantile_window=1000,
    ),
    replace(
        _GUARDED,
        label="no drop guard",
        what="the previous default: after a drop below 0.65x the 5-chunk harmonic mean the first"
        " chunk's scenarios still follow the forecast, not the last rate",
        drop_guard=0.0,
    ),
    replace(
        _GUARDED,
        label="discount 0.9",
        what="chunk t of the plan weighs 0.9^t (later chunks will be re-planned), the buffer"
        " value 0.9^5",
        discount=0.9,
    ),
    replace(
        _GUARDED,
        label="conditional quantiles",
        what="scenario errors = quantiles of the errors of the 200 nearest past snapshots"
        " (last rates against their harmonic mean, volatility, level, age; bench/abr/probes.py)",
        conditional_k=200,
    ),
    replace(
        _GUARDED,
        label="conditional, half",
        what="the mean of those and the global error quantiles",
        conditional_k=200,
        conditional_blend=0.5,
    ),
    replace(
        _GUARDED,
        label="vote: terminal",
        what="first rung by the mean per-rung value of 3 planners, terminal weight x0.8 / 1 / 1.2",
        vote=((0.8, 1.0), (1.0, 1.0), (1.2, 1.0)),
    ),
    replace(
        _GUARDED,
        label="vote: switch",
        what="... of 3 planners, switch weight x0.85 / 1 / 1.15",
        vote=((1.0, 0.85), (1.0, 1.0), (1.0, 1.15)),
    ),
    replace(
        _GUARDED,
        label="rare outage",
        what="a 0.2% scenario at 0.3x the worst (the norway_car_12 kind of collapse)",
        outage=(0.3, 0.002),
    ),
    replace(
        _GUARDED,
        label="low tail .02",
        what="scenario levels .02/.2/.5/.8/.95 (more cautious)",
        levels=(0.02, 0.2, 0.5, 0.8, 0.95),
    ),
    replace(
        _GUARDED,
        label="low tail .1",
        what="scenario levels .1/.2/.5/.8/.95 (bolder)",
        levels=(0.1, 0.2, 0.5, 0.8, 0.95),
    ),
    replace(
        _GUARDED,
        label="rebuffer weight 1.1",
        what="expected stalls planned at 1.1x their QoE cost (risk aversion on top of the"
        " scenarios)",
        rebuffer_weight=1.1,
    ),
    replace(
        _GUARDED,
        label="rebuffer weight 1.4",
        what="... at 1.4x their QoE cost",
        rebuffer_weight=1.4,
    ),
    replace(
        _GUARDED,
        label="River BLR",
        what="River's BayesianLinearRegression(smoothing=0.999) as the mean model: the same"
        " estimator as the RLS (bench/abr/probes.py), computed by inverting at every update",
        river_blr=True,
    ),
    replace(
        _GUARDED,
        label="exact reveal",
        what="each first rung valued as if its chunk told the scenarios apart: E_s[max over the"
        " rest] (the open-loop plan commits to the rest under every scenario)",
        adaptive=1.0,
    ),
    replace(
        _GUARDED,
        label="partial reveal",
        what="... as if its chunk were a noisy look at the scenario (noise 2x the session's"
        " chunk-to-chunk log-rate sd, shrunk to the population's): re-planning counted on only"
        " as far as the next chunk can inform it",
        reveal_noise=2.0,
    ),
    replace(
        _GUARDED,
        label="partial reveal x1",
        what="the noise 1x the session's sd (more revealed)",
        reveal_noise=1.0,
    ),
    replace(
        _GUARDED,
        label="partial reveal x3",
        what="... 3x (less revealed)",
        reveal_noise=3.0,
    ),
    replace(
        _GUARDED,
        label="progress tail",
        what="the player's progress measurement as a feature: log payload rate over the last"
        " 0.5 s of the previous transfer (simulator TAIL_MS)",
        features=FEATURES + PROGRESS_FEATURES,
    ),
    replace(
        DEFAULT,
        label="tail + next-chunk model",
        what="... and a second RLS model (same features) for the chunk the decision commits to,"
        " where the freshest rate matters most (the drop guard is then off: the first chunk"
        " has its own forecast); the default since this revision",
    ),
    replace(
        DEFAULT,
        label="tail + next, terminal 0.27",
        what="... with the buffer value at 0.27/s",
        terminal_weight=0.27,
    ),
    replace(
        DEFAULT,
        label="tail + next, rebuffer 1.25",
        what="... with stalls planned at 1.25x their QoE cost",
        rebuffer_weight=1.25,
    ),
    replace(
        _GUARDED,
        label="next-chunk model, no tail",
        what="the next-chunk model on the chunk history alone (the drop guard off, as above)",
        next_model=True,
    ),
    replace(
        _GUARDED,
        label="no warm-up",
        what="population model not warmed on cooked_traces",
        warmup=False,
    ),
)
