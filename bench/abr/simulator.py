"""Chunk-level player simulator that replays Pensieve's test environment to the letter.

Conventions (Pensieve ``test/fixed_env.py``): the link delivers 95 % of the
trace throughput, every chunk pays an 80 ms RTT, the buffer is capped at 60 s
(above it the player sleeps in 500 ms steps while the trace clock runs on),
the trace starts at sample index 1 and loops back to time 0 at its end, the
first chunk is fetched at rung 1 and chunk 0's reward is dropped from the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bench.abr.traces import Trace, Video

PAYLOAD_FRACTION = 0.95
RTT_MS = 80.0
BUFFER_CAP_MS = 60_000.0
SLEEP_STEP_MS = 500.0
DEFAULT_RUNG = 1
REBUF_PENALTY = 4.3
SMOOTH_PENALTY = 1.0
# The player's progress measurement: bytes received over the final TAIL_MS of each transfer
# (what a real player reads from its download's progress events; the physics is unchanged).
TAIL_MS = 500.0


@dataclass(frozen=True)
class ChunkResult:
    """What the player knows after a chunk arrives (times in ms except buffer/rebuffer in s)."""

    index: int
    rung: int
    delay_ms: float
    sleep_ms: float
    buffer_s: float
    rebuffer_s: float
    size_bytes: float
    next_sizes: np.ndarray
    end_of_video: bool
    remaining: int
    # Payload bytes received over the last ``tail_ms`` of the transfer (the whole transfer if
    # shorter): the link's rate as the chunk finished, where ``size / delay`` averages it.
    tail_bytes: float = 0.0
    tail_ms: float = 0.0


class Player:
    """One playback session over one trace (state: trace pointer, clock, buffer)."""

    def __init__(self, trace: Trace, video: Video, tail_ms: float = TAIL_MS) -> None:
        self.tail_ms = tail_ms
        self.time = trace.time_s.tolist()
        self.bw = trace.mbps.tolist()
        self.video = video
        self.ptr = 1
        self.last_time = self.time[0]
        self.buffer_ms = 0.0
        self.chunk = 0

    def _advance(self) -> None:
        self.ptr += 1
        if self.ptr >= len(self.bw):
            self.ptr = 1
            self.last_time = 0.0

    def download(self, rung: int) -> ChunkResult:
        """Fetch the next chunk at ``rung`` and return the observation the reference returns."""
        if not 0 <= rung < len(self.video.bitrates_kbps):
            raise ValueError(f"rung {rung} out of range")
        size = float(self.video.sizes[rung, self.chunk])
        delay = 0.0
        sent = 0.0
        segments: list[tuple[float, float]] = []  # (seconds, payload bytes/s), in order
        while True:
            throughput = self.bw[self.ptr] * 1e6 / 8.0
            duration = self.time[self.ptr] - self.last_time
            payload = throughput * duration * PAYLOAD_FRACTION
            if sent + payload > size:
                frac = (size - sent) / throughput / PAYLOAD_FRACTION
                delay += frac
                self.last_time += frac
                segments.append((frac, throughput * PAYLOAD_FRACTION))
                break
            sent += payload
            delay += duration
            segments.append((duration, throughput * PAYLOAD_FRACTION))
            self.last_time = self.time[self.ptr]
            self._advance()
        tail_bytes, tail_s = _tail(segments, self.tail_ms / 1000.0)
        tail_bytes = min(tail_bytes, size)  # a whole transfer inside the window, summed back
        delay = delay * 1000.0 + RTT_MS
        rebuf = max(delay - self.buffer_ms, 0.0)
        self.buffer_ms = max(self.buffer_ms - delay, 0.0) + self.video.chunk_s * 1000.0
        sleep = 0.0
        if self.buffer_ms > BUFFER_CAP_MS:
            sleep = math.ceil((self.buffer_ms - BUFFER_CAP_MS) / SLEEP_STEP_MS) * SLEEP_STEP_MS
            self.buffer_ms -= sleep
            left = sleep
            while True:
                duration = self.time[self.ptr] - self.last_time
                if duration > left / 1000.0:
                    self.last_time += left / 1000.0
                    break
                left -= duration * 1000.0
                self.last_time = self.time[self.ptr]
                self._advance()
        index = self.chunk
        self.chunk += 1
        end = self.chunk >= self.video.n_chunks
        nxt = min(self.chunk, self.video.sizes.shape[1] - 1)
        return ChunkResult(
            index=index,
            rung=rung,
            delay_ms=delay,
            sleep_ms=sleep,
            buffer_s=self.buffer_ms / 1000.0,
            rebuffer_s=rebuf / 1000.0,
            size_bytes=size,
            next_sizes=self.video.sizes[:, nxt],
            end_of_video=end,
            remaining=self.video.n_chunks - self.chunk,
            tail_bytes=tail_bytes,
            tail_ms=tail_s * 1000.0,
        )


def _tail(segments: list[tuple[float, float]], window_s: float) -> tuple[float, float]:
    """Bytes and seconds of the last ``window_s`` of a transfer made of (seconds, rate) pieces.

    >>> _tail([(2.0, 100.0), (0.25, 400.0)], 0.5)
    (125.0, 0.5)
    >>> _tail([(0.1, 100.0)], 0.5)
    (10.0, 0.1)
    >>> _tail([(1.0, 100.0), (0.0, 400.0)], 0.5)  # ended exactly on a sample edge
    (50.0, 0.5)
    """
    got_b = got_s = 0.0
    for seconds, rate in reversed(segments):
        if got_s >= window_s:
            break
        take = min(seconds, window_s - got_s)  # 0 for a transfer that ended on a sample edge
        got_b += rate * take
        got_s += take
    return got_b, got_s


class Policy(Protocol):
    """A bitrate controller driven by the simulator."""

    name: str

    def start(self, trace_name: str) -> None:
        """A new session begins (the first chunk is fetched at the default rung)."""

    def choose(self, obs: ChunkResult, video: Video) -> int:
        """Rung for the next chunk, called after every chunk (the last one's answer is unused)."""
        ...


@dataclass
class SessionLog:
    """Per-chunk record of one session and its score."""

    trace: str
    rungs: list[int] = field(default_factory=list)
    rebuffer_s: list[float] = field(default_factory=list)
    delay_ms: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)

    @property
    def qoe(self) -> float:
        """QoE_lin summed over chunks 1..n-1 (chunk 0, the startup chunk, is dropped)."""
        return float(sum(self.rewards[1:]))

    def played(self, bitrates: np.ndarray) -> tuple[float, float, int]:
        """Mean bitrate (kbps), total rebuffer (s) and switch count over the scored chunks."""
        rungs = self.rungs[1:]
        kbps = float(np.mean(bitrates[rungs])) if rungs else 0.0
        switches = sum(1 for a, b in zip(self.rungs, self.rungs[1:], strict=False) if a != b)
        return kbps, float(sum(self.rebuffer_s[1:])), switches


def chunk_reward(bitrates: np.ndarray, rung: int, last: int, rebuf_s: float) -> float:
    """QoE_lin of one chunk: bitrate (Mbit/s) minus rebuffer and switch penalties."""
    return float(
        bitrates[rung] / 1000.0
        - REBUF_PENALTY * rebuf_s
        - SMOOTH_PENALTY * abs(bitrates[rung] - bitrates[last]) / 1000.0
    )


def run_session(trace: Trace, video: Video, policy: Policy) -> SessionLog:
    """Play the whole video over ``trace`` under ``policy`` and log every chunk."""
    player = Player(trace, video)
    policy.start(trace.name)
    log = SessionLog(trace.name)
    rung = last = DEFAULT_RUNG
    while True:
        obs = player.download(rung)
        log.rungs.append(rung)
        log.rebuffer_s.append(obs.rebuffer_s)
        log.delay_ms.append(obs.delay_ms)
        log.rewards.append(chunk_reward(video.bitrates_kbps, rung, last, obs.rebuffer_s))
        last = rung
        nxt = policy.choose(obs, video)
        if obs.end_of_video:
            return log
        rung = int(nxt)
