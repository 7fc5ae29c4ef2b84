"""Approximate policy iteration for the policy correction: rollout advantages on training traces.

At sampled decisions of a training session, every rung is tried and the
session is played to its end by the current policy (a copy of the engine,
learning as it goes), on the real trace. The returns' differences are
``Q^pi(s, a) - Q^pi(s, a_pi)``: unlike a clairvoyant expert's choice they price
each rung under the policy's own, non-clairvoyant follow-up. The correction
regresses them on the decision's features, so it learns the expected
advantage given what the player can observe (one step of policy iteration).
"""

from __future__ import annotations

import copy
import pickle
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from bench.abr.service_policy import ServicePolicy, observe
from bench.abr.simulator import RTT_MS, ChunkResult, Player, chunk_reward
from bench.abr.traces import Trace, Video
from services.abr.engine import AbrEngine
from services.abr.imitation import PolicyCorrection

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]


def _clone(engine: AbrEngine) -> AbrEngine:
    """Deep copy of the engine's learning state, sharing the (stateless, cached) planner."""
    planner = engine.planner
    engine.planner = None  # type: ignore[assignment]
    try:
        clone: AbrEngine = pickle.loads(pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        engine.planner = planner
    clone.planner = planner
    clone.correction = engine.correction
    return clone


def _play_out(
    engine: AbrEngine, session: str, player: Player, video: Video, rung: int, last: int, depth: int
) -> float:
    """Return of fetching ``rung`` next, then following the engine for ``depth`` chunks in all.

    A truncated rollout ends with the planner's own terminal credit for the buffer left.
    """
    total = 0.0
    for step in range(depth):
        obs = player.download(rung)
        total += chunk_reward(video.bitrates_kbps, rung, last, obs.rebuffer_s)
        last = rung
        if obs.end_of_video:
            return total
        observe(engine, session, obs, 0.0)
        if step == depth - 1:
            break
        start = video.n_chunks - obs.remaining
        horizon = engine.planner.horizon
        rung = engine.select(
            session,
            buffer_s=obs.buffer_s,
            sizes_ahead=video.sizes[:, start : min(start + horizon, video.n_chunks)],
            now=0.0,
            rtt_s=RTT_MS / 1000.0,
            video_continues=start + horizon < video.n_chunks,
        ).rung
    planner = engine.planner
    return total + planner.terminal_weight * min(
        player.buffer_ms / 1000.0, planner.terminal_buffer_s
    )


def session_samples(
    trace: Trace, video: Video, policy: ServicePolicy, every: int, offset: int, depth: int
) -> tuple[float, list[Sample]]:
    """Play one session with ``policy``; at every ``every``-th decision measure all rungs."""
    player = Player(trace, video)
    policy.start(trace.name)
    rung = last = 1
    score = 0.0
    samples: list[Sample] = []
    n = 0
    while True:
        obs: ChunkResult = player.download(rung)
        reward = chunk_reward(video.bitrates_kbps, rung, last, obs.rebuffer_s)
        score += reward if obs.index > 0 else 0.0
        last = rung
        nxt = policy.choose(obs, video)
        if obs.end_of_video:
            return score, samples
        state = policy.engine.store.peek(policy.session)
        if (n + offset) % every == 0 and state is not None and state.policy_x is not None:
            x, scores = state.policy_x, state.policy_scores
            returns = np.full(len(scores), -np.inf)
            for a in np.flatnonzero(np.isfinite(scores)):
                fork = _clone(policy.engine)
                returns[a] = _play_out(
                    fork, policy.session, copy.copy(player), video, int(a), last, depth
                )
            returns -= returns[int(nxt)]
            samples.append((x, scores, returns))
        n += 1
        rung = int(nxt)


def collect_advantages(
    build: Callable[[], AbrEngine],
    traces: Sequence[Trace],
    video: Video,
    correction: PolicyCorrection,
    every: int = 4,
    depth: int = 12,
) -> list[Sample]:
    """One pass over ``traces`` with the corrected policy, measuring rollout advantages."""
    engine = build()
    engine.correction = correction
    policy = ServicePolicy(engine)
    data: list[Sample] = []
    t0 = time.time()
    for i, trace in enumerate(traces):
        _, samples = session_samples(trace, video, policy, every, i, depth)
        data.extend(samples)
        if i % 20 == 0:
            print(f"rollouts: {i}/{len(traces)} traces ({time.time() - t0:.0f}s)", file=sys.stderr)
    return data


def fit_advantages(
    correction: PolicyCorrection,
    data: Sequence[Sample],
    ridge: float = 10.0,
    reach: int = 1,
    clip: float = 5.0,
) -> np.ndarray:
    """Set the correction's weights by ridge regression on the measured advantages; returns them.

    For each sampled decision and each allowed rung ``a`` other than the one taken, the
    correction's gap ``c_a - c_taken`` should equal what the planner's score gap missed:
    ``advantage_a - (score_a - score_taken)``. The rung taken is the argmax of the scores
    plus the correction in force when the data were collected (zero-return rung). Only rungs
    within ``reach`` of it are used and targets are clipped to +-``clip``: far rungs and
    stalls of tens of seconds are rare, huge and clairvoyant-noisy, and a linear correction
    that chased them would wreck the common case.
    """
    rows: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for x, scores, returns in data:
        ok = np.isfinite(scores) & np.isfinite(returns)
        taken_mask = ok & (returns == 0.0)
        if not taken_mask.any():
            continue
        taken = int(np.flatnonzero(taken_mask)[np.argmax(scores[taken_mask])])
        ok &= np.abs(np.arange(len(ok)) - taken) <= reach
        ok[taken] = False
        if not ok.any():
            continue
        rows.append(x[ok] - x[taken])
        targets.append(np.clip(returns[ok] - (scores[ok] - scores[taken]), -clip, clip))
    d = np.vstack(rows)
    t = np.concatenate(targets)
    gram = d.T @ d + ridge * np.eye(d.shape[1])
    correction.weights = np.linalg.solve(gram, d.T @ t)
    return correction.weights
