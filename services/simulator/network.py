"""Bandwidth traces: synthetic (Markov states with log-normal noise, by network type) or real files.

A :class:`Trace` is piecewise-constant throughput over time that loops past its
end, in the Pensieve convention: in a file of ``time_s throughput_Mbps`` lines,
a sample's throughput holds from the previous timestamp to its own. A download
of ``b`` bytes starting at ``t`` takes the time for the cumulative delivered
bits (at ``PAYLOAD`` of the line rate) to grow by ``8 b``, plus one ``RTT_S``.

>>> tr = Trace.constant(8.0, 100)
>>> round(tr.download_s(3.5, 950_000), 6)  # 7.6 Mbit at 0.95 x 8 Mbit/s = 1 s, + 80 ms
1.08
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelstream.common.v1 import types_pb2 as types

PAYLOAD = 0.95  # share of line rate that carries video bytes (Pensieve's convention)
RTT_S = 0.08
MIN_MBPS = 0.05  # a dead link still trickles: keeps downloads finite


class Trace:
    """Piecewise-constant throughput over ``[0, length)``, looping."""

    __slots__ = ("_cum", "_times", "length_s", "mbps", "name", "times")

    def __init__(self, times: np.ndarray, mbps: np.ndarray, name: str = "") -> None:
        """``times[0] = 0 < times[1] < ...``; ``mbps[i]`` holds over ``(times[i], times[i+1]]``."""
        if len(times) != len(mbps) + 1 or len(mbps) == 0:
            raise ValueError("need len(times) == len(mbps) + 1 >= 2")
        self.name = name
        self.times = np.asarray(times, dtype=float)
        self.mbps = np.maximum(np.asarray(mbps, dtype=float), MIN_MBPS)
        self.length_s = float(self.times[-1])
        bits = np.diff(self.times) * self.mbps * 1e6 * PAYLOAD
        # Python lists: bisect on a list is faster than numpy for one scalar at a time.
        self._times: list[float] = self.times.tolist()
        self._cum: list[float] = np.concatenate([[0.0], np.cumsum(bits)]).tolist()

    @classmethod
    def constant(cls, mbps: float, length_s: float) -> Trace:
        """A link of constant throughput (tests, demos)."""
        return cls(np.array([0.0, float(length_s)]), np.array([mbps]), f"const-{mbps:g}")

    def _bits_at(self, t: float) -> float:
        i = bisect.bisect_right(self._times, t) - 1
        i = min(max(i, 0), len(self._times) - 2)
        rate = (self._cum[i + 1] - self._cum[i]) / (self._times[i + 1] - self._times[i])
        return self._cum[i] + (t - self._times[i]) * rate

    def _time_at(self, bits: float) -> float:
        i = bisect.bisect_right(self._cum, bits) - 1
        i = min(max(i, 0), len(self._cum) - 2)
        rate = (self._cum[i + 1] - self._cum[i]) / (self._times[i + 1] - self._times[i])
        return self._times[i] + (bits - self._cum[i]) / rate

    def transfer_s(self, t: float, nbytes: float) -> float:
        """Seconds to move ``nbytes`` of payload starting at trace time ``t`` (no RTT)."""
        start = t % self.length_s
        loop_bits = self._cum[-1]
        loops, rem = divmod(self._bits_at(start) + nbytes * 8.0, loop_bits)
        return loops * self.length_s + self._time_at(rem) - start

    def delivered_bytes(self, t0: float, t1: float) -> float:
        """Payload bytes the link delivers over trace times ``[t0, t1]`` (looping).

        A player's progress measurement: the bytes over the final part of a transfer.

        >>> Trace.constant(8.0, 100).delivered_bytes(99.75, 100.25)  # across the loop
        475000.0
        """
        loop_bits = self._cum[-1]

        def bits_to(t: float) -> float:
            loops, rest = divmod(t, self.length_s)
            return loops * loop_bits + self._bits_at(rest)

        return (bits_to(t1) - bits_to(t0)) / 8.0

    def download_s(self, t: float, nbytes: float) -> float:
        """Seconds from request to last byte: one RTT plus the transfer."""
        return RTT_S + self.transfer_s(t, nbytes)

    def mbps_at(self, t: float) -> float:
        """Line throughput at trace time ``t``."""
        start = t % self.length_s
        i = min(max(bisect.bisect_left(self._times, start), 1), len(self._times) - 1)
        return float(self.mbps[i - 1])


@dataclass(frozen=True)
class NetworkProfile:
    """A network type's typical link: median rate, state levels and how long states last."""

    median_mbps: float
    levels: tuple[float, float, float] = (1.0, 0.45, 0.12)  # good / congested / bad
    hold_s: tuple[float, float, float] = (90.0, 30.0, 12.0)  # mean state durations
    jitter: float = 0.25  # log-normal sigma within a state


PROFILES: dict[int, NetworkProfile] = {
    types.NETWORK_TYPE_ETHERNET: NetworkProfile(40.0, (1.0, 0.6, 0.3), (300.0, 30.0, 10.0), 0.1),
    types.NETWORK_TYPE_WIFI: NetworkProfile(12.0, (1.0, 0.45, 0.15), (120.0, 30.0, 10.0), 0.2),
    types.NETWORK_TYPE_CELLULAR_5G: NetworkProfile(20.0, (1.0, 0.35, 0.08), (60.0, 20.0, 8.0)),
    types.NETWORK_TYPE_CELLULAR_4G: NetworkProfile(5.0, (1.0, 0.4, 0.1), (45.0, 20.0, 8.0), 0.35),
    types.NETWORK_TYPE_CELLULAR_3G: NetworkProfile(1.6, (1.0, 0.4, 0.1), (30.0, 15.0, 8.0), 0.4),
}


def synth_trace(
    rng: np.random.Generator, network: int, scale: float = 1.0, length_s: int = 900
) -> Trace:
    """A 1-s sampled trace: a 3-state Markov chain of link levels times log-normal jitter.

    State holding times are exponential with the profile's means; the next state
    is drawn from the other two, good favoured. ``scale`` is the household's
    multiplier on the profile's median.

    >>> rng = np.random.default_rng(0)
    >>> tr = synth_trace(rng, types.NETWORK_TYPE_WIFI)
    >>> tr.length_s, bool((tr.mbps > 0).all())
    (900.0, True)
    """
    prof = PROFILES.get(network, PROFILES[types.NETWORK_TYPE_WIFI])
    level = np.empty(length_s)
    pos, state = 0, int(rng.choice(3, p=[0.7, 0.2, 0.1]))
    while pos < length_s:
        hold = max(1, math.ceil(rng.exponential(prof.hold_s[state])))
        level[pos : pos + hold] = prof.levels[state]
        pos += hold
        others = [s for s in range(3) if s != state]
        state = int(rng.choice(others, p=[0.75, 0.25] if state != 0 else [0.7, 0.3]))
    noise = rng.normal(0.0, prof.jitter, length_s)
    noise = np.convolve(noise, np.ones(3) / math.sqrt(3), mode="same")  # a little memory
    mbps = prof.median_mbps * scale * level * np.exp(noise - prof.jitter**2 / 2)
    return Trace(np.arange(length_s + 1, dtype=float), mbps, f"synth-{network}")


def load_trace(path: Path) -> Trace:
    """A two-column ``time_s throughput_Mbps`` file (Pensieve/cooked-trace format)."""
    data = np.loadtxt(path, ndmin=2)
    times, mbps = data[:, 0], data[:, 1]
    keep = np.concatenate([[True], np.diff(times) > 0])  # drop repeated timestamps
    times, mbps = times[keep], mbps[keep]
    if len(times) < 2:
        raise ValueError(f"{path}: need at least two samples")
    return Trace(times[:] - times[0], mbps[1:], path.name)


def load_trace_dir(directory: Path, limit: int = 2000) -> list[Trace]:
    """Every readable trace file in ``directory`` (sorted by name, at most ``limit``)."""
    out = []
    for p in sorted(directory.iterdir())[:limit]:
        if p.is_file():
            try:
                out.append(load_trace(p))
            except ValueError:
                continue
    if not out:
        raise ValueError(f"no trace files in {directory}")
    return out
