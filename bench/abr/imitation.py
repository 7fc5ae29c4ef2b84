"""DAgger training of the service's policy correction against the clairvoyant expert (Comyco-style).

Each round plays the training traces with the current corrected policy (a
fresh engine, learning online as in the warm-up), labels every visited state
with ``expert.expert_rung``, adds the labelled states to one growing data set
and runs a few SGD epochs over all of it in a fixed shuffled order.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from bench.abr.expert import expert_rung
from bench.abr.optimal import TraceClock
from bench.abr.service_policy import ServicePolicy
from bench.abr.simulator import RTT_MS, ChunkResult, run_session
from bench.abr.traces import Trace, Video
from services.abr.engine import AbrEngine
from services.abr.imitation import PolicyCorrection

Sample = tuple[np.ndarray, np.ndarray, int]


class LabellingPolicy(ServicePolicy):
    """ServicePolicy that records each decision's features with the expert's rung for it."""

    def __init__(self, engine: AbrEngine, clocks: dict[str, TraceClock], lookahead: int) -> None:
        super().__init__(engine)
        self.clocks = clocks
        self.lookahead = lookahead
        self.samples: list[Sample] = []
        self.trace_time = 0.0

    def start(self, trace_name: str) -> None:
        super().start(trace_name)
        self.trace_time = self.clocks[trace_name].start

    def choose(self, obs: ChunkResult, video: Video) -> int:
        # The trace clock runs during transfers and sleeps, not during the RTT (as the player).
        self.trace_time += (obs.delay_ms - RTT_MS + obs.sleep_ms) / 1000.0
        rung = super().choose(obs, video)
        state = self.engine.store.peek(self.session)
        if obs.end_of_video or state is None or state.policy_x is None:
            return rung
        label = expert_rung(
            self.clocks[self.session],
            video,
            time_s=self.trace_time,
            buffer_ms=obs.buffer_s * 1000.0,
            last_rung=obs.rung,
            chunk=obs.index + 1,
            lookahead=self.lookahead,
        )
        self.samples.append((state.policy_x, state.policy_scores, label))
        return rung


def train_correction(
    build: Callable[[], AbrEngine],
    traces: Sequence[Trace],
    video: Video,
    correction: PolicyCorrection,
    rounds: int = 2,
    epochs: int = 3,
    lookahead: int = 12,
    seed: int = 0,
) -> list[Sample]:
    """Train ``correction`` in place by DAgger on ``traces``; returns the labelled states."""
    clocks = {t.name: TraceClock(t) for t in traces}
    rng = np.random.default_rng(seed)
    data: list[Sample] = []
    for r in range(rounds):
        t0 = time.time()
        engine = build()
        engine.correction = correction
        policy = LabellingPolicy(engine, clocks, lookahead)
        scores = [run_session(t, video, policy).qoe for t in traces]
        data.extend(policy.samples)
        for _ in range(epochs):
            for i in rng.permutation(len(data)):
                correction.learn_one(*data[i])
        agree = np.mean([int(np.argmax(s + correction.predict_one(x))) == e for x, s, e in data])
        print(
            f"dagger round {r}: QoE {np.mean(scores):.2f} on {len(traces)} traces,"
            f" {len(data)} states, agreement {agree:.3f} ({time.time() - t0:.0f}s)",
            file=sys.stderr,
            flush=True,
        )
    return data
