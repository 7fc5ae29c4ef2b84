"""Drive the service's AbrEngine from the simulator: one session per trace, model carried over."""

from __future__ import annotations

import time

import numpy as np

from bench.abr.simulator import RTT_MS, ChunkResult
from bench.abr.traces import Video
from services.abr.engine import AbrEngine


def observe(engine: AbrEngine, session: str, obs: ChunkResult, now: float) -> None:
    """Feed one simulated chunk download to the engine, as the service's chunk event would."""
    engine.observe_chunk(
        session,
        size_bytes=obs.size_bytes,
        download_s=obs.delay_ms / 1000.0,
        rtt_s=RTT_MS / 1000.0,
        buffer_s=obs.buffer_s,
        rung=obs.rung,
        now=now,
        tail_bytes=obs.tail_bytes,
        tail_s=obs.tail_ms / 1000.0,
    )


class ServicePolicy:
    """Simulator policy backed by an AbrEngine; records in-process decision latencies."""

    name = "service"

    def __init__(self, engine: AbrEngine) -> None:
        self.engine = engine
        self.session = ""
        self.clock = 0.0
        self.latencies_ms: list[float] = []
        self.cpu_ms: list[float] = []

    def start(self, trace_name: str) -> None:
        """Open a fresh session (no per-session history; the population model carries on)."""
        if self.session:
            self.engine.end_session(self.session)
        self.session = trace_name
        self.engine.start_session(trace_name, now=self.clock)

    def choose(self, obs: ChunkResult, video: Video) -> int:
        """Feed the chunk-downloaded event, then ask for the next rung (timed)."""
        self.clock += (obs.delay_ms + obs.sleep_ms) / 1000.0
        observe(self.engine, self.session, obs, self.clock)
        if obs.end_of_video:
            return obs.rung
        start = video.n_chunks - obs.remaining
        horizon = self.engine.planner.horizon
        sizes = video.sizes[:, start : min(start + horizon, video.n_chunks)]
        t0 = time.perf_counter()
        c0 = time.thread_time()
        decision = self.engine.select(
            self.session,
            buffer_s=obs.buffer_s,
            sizes_ahead=sizes,
            now=self.clock,
            rtt_s=RTT_MS / 1000.0,
            video_continues=start + horizon < video.n_chunks,
            chunks_left=video.n_chunks - start,
        )
        self.cpu_ms.append((time.thread_time() - c0) * 1000.0)
        self.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        return decision.rung

    def p99_ms(self, cpu: bool = False) -> float:
        """99th percentile of the recorded decision latencies (wall clock, or thread CPU time).

        On a shared machine the wall clock also counts time the process spent descheduled;
        the CPU-time figure is the cost of the decision itself.
        """
        values = self.cpu_ms if cpu else self.latencies_ms
        return float(np.percentile(values, 99)) if values else 0.0
