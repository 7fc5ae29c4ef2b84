"""Fit the planner's terminal value by rollouts of the service's own policy on training traces.

Approximate dynamic programming for the MPC's horizon end: the service plays
the training traces (learning online, as in the benchmark's warm-up); at
sampled decisions the player is forked with its buffer set to each level of a
grid (and, at the real buffer, with each last rung), and every fork is played
on for ``depth`` chunks by a copy of the policy on the real trace. Returns of
forks of the same state differ only by the buffer (or rung) they started
from, so their within-state differences measure the value of buffer and rung
under the policy's own follow-up (policy evaluation, not a clairvoyant
expert). A piecewise-linear value of buffer and a value per rung, per band of
the predicted rate, are regressed on them (state fixed effects, ridge toward
the hand-made 0.3/s up to 20 s) and saved as a :class:`TerminalValue`.

Run: ``python -m bench.abr.terminal [--out services/abr/terminal_lin_envivio.json]``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.abr.rollout import _clone
from bench.abr.service_policy import ServicePolicy, observe
from bench.abr.simulator import DEFAULT_RUNG, RTT_MS, Player, chunk_reward
from bench.abr.traces import Trace, Video, load_trace_dir, load_video
from services.abr.engine import AbrEngine
from services.abr.terminal import TerminalValue

GRID_S = (0.0, 2.0, 4.0, 6.0, 9.0, 12.0, 16.0, 20.0, 28.0, 40.0)
RATE_EDGES_MBPS = (0.75, 1.2, 1.85, 2.85, 4.3)


@dataclass(frozen=True)
class Fork:
    """One rollout: the state's rate band, the start (buffer, last rung) and its return."""

    state: int
    trace: int
    band: int
    buffer_s: float
    rung: int
    ret: float


def _bootstrap(engine: AbrEngine, buffer_s: float, band: int) -> float:
    """The planner's current terminal value of a buffer level (what the rollout truncates to)."""
    planner = engine.planner
    tv = planner.terminal_value
    if tv is not None:
        return float(tv.buffer_value(np.array([buffer_s], dtype=np.float32), band)[0])
    return planner.terminal_weight * min(buffer_s, planner.terminal_buffer_s)


def play_fork(
    engine: AbrEngine,
    session: str,
    player: Player,
    video: Video,
    buffer_s: float,
    last: int,
    depth: int,
    band: int,
) -> float:
    """Return of ``depth`` chunks chosen by ``engine`` from ``player`` with this buffer and rung."""
    player.buffer_ms = buffer_s * 1000.0
    total = 0.0
    buffer = buffer_s
    for _ in range(depth):
        start = player.chunk
        horizon = engine.planner.horizon
        rung = engine.select(
            session,
            buffer_s=buffer,
            sizes_ahead=video.sizes[:, start : min(start + horizon, video.n_chunks)],
            now=0.0,
            last_rung=last,
            rtt_s=RTT_MS / 1000.0,
            video_continues=start + horizon < video.n_chunks,
        ).rung
        obs = player.download(rung)
        total += chunk_reward(video.bitrates_kbps, rung, last, obs.rebuffer_s)
        last = rung
        buffer = obs.buffer_s
        observe(engine, session, obs, 0.0)
    return total + _bootstrap(engine, buffer, band)


def rate_band(engine: AbrEngine, session: str, buffer_s: float, edges: np.ndarray) -> int:
    """Band of the session's median predicted payload rate (what the planner will look up)."""
    state = engine.store.peek(session)
    assert state is not None
    rates = engine.scenarios(state, buffer_s)
    first = rates[:, 0] if rates.ndim == 2 else rates
    mbps = float(np.exp(np.mean(np.log(first)))) * 8e-6
    return int(np.searchsorted(edges, mbps, side="right"))


def collect(
    build: Callable[[], AbrEngine],
    traces: Sequence[Trace],
    video: Video,
    every: int = 3,
    depth: int = 10,
    grid: Sequence[float] = GRID_S,
    edges: Sequence[float] = RATE_EDGES_MBPS,
) -> list[Fork]:
    """Play ``traces`` with a fresh engine; fork at every ``every``-th decision (see module doc)."""
    engine = build()
    policy = ServicePolicy(engine)
    edge_arr = np.asarray(edges)
    forks: list[Fork] = []
    n_states = 0
    t0 = time.time()
    for i, trace in enumerate(traces):
        player = Player(trace, video)
        policy.start(trace.name)
        rung = DEFAULT_RUNG
        n = 0
        while True:
            obs = player.download(rung)
            nxt = policy.choose(obs, video)
            if obs.end_of_video:
                break
            if (n + i) % every == 0 and obs.remaining > depth + engine.planner.horizon:
                band = rate_band(engine, policy.session, obs.buffer_s, edge_arr)
                starts = [(b, rung) for b in grid] + [
                    (obs.buffer_s, r) for r in range(len(video.bitrates_kbps))
                ]
                for b, r in starts:
                    ret = play_fork(
                        _clone(engine), policy.session, copy.copy(player), video, b, r, depth, band
                    )
                    forks.append(Fork(n_states, i, band, b, r, ret))
                n_states += 1
            n += 1
            rung = int(nxt)
        if i % 10 == 0:
            print(
                f"terminal rollouts: {i + 1}/{len(traces)} traces, {n_states} states"
                f" ({time.time() - t0:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    return forks


def fit(
    forks: Sequence[Fork],
    n_rungs: int,
    knots: Sequence[float] = GRID_S,
    edges: Sequence[float] = RATE_EDGES_MBPS,
    ridge: float = 20.0,
    prior_weight: float = 0.3,
    prior_cap_s: float = 20.0,
    clip: float = 30.0,
) -> TerminalValue:
    """Within-state least squares of the forks' returns on buffer and rung values (see module).

    Parameters per band: the buffer value at each knot but the first (0 at 0 s) and the
    value of each rung but the first (0); ridge ``ridge`` pulls them toward the hand-made
    value (``prior_weight`` per s up to ``prior_cap_s``, rungs 0). Returns are clipped to
    +-``clip`` around their state's mean: a fork that stalls for half a minute is one
    trace's bad luck, not a price the table should learn.
    """
    knots_arr = np.asarray(knots, dtype=float)
    n_bands = len(edges) + 1
    nk = len(knots_arr) - 1
    per_band = nk + n_rungs - 1
    n_par = n_bands * per_band
    prior = np.zeros(n_par)
    for band in range(n_bands):
        prior[band * per_band : band * per_band + nk] = prior_weight * np.minimum(
            knots_arr[1:], prior_cap_s
        )
    rows: list[np.ndarray] = []
    targets: list[float] = []
    by_state: dict[int, list[Fork]] = {}
    for f in forks:
        by_state.setdefault(f.state, []).append(f)
    eye = np.eye(len(knots_arr))
    for group in by_state.values():
        x = np.zeros((len(group), n_par))
        y = np.array([f.ret for f in group])
        for j, f in enumerate(group):
            base = f.band * per_band
            hats = np.array([np.interp(f.buffer_s, knots_arr, eye[k]) for k in range(len(eye))])
            x[j, base : base + nk] = hats[1:]
            if f.rung > 0:
                x[j, base + nk + f.rung - 1] = 1.0
        y = np.clip(y - y.mean(), -clip, clip)
        rows.append(x - x.mean(axis=0))
        targets.extend(y.tolist())
    design = np.vstack(rows)
    t = np.asarray(targets)
    gram = design.T @ design + ridge * np.eye(n_par)
    theta = np.linalg.solve(gram, design.T @ t + ridge * prior)
    buffer_values = []
    rung_values = []
    for band in range(n_bands):
        p = theta[band * per_band : (band + 1) * per_band]
        buffer_values.append([0.0, *p[:nk].tolist()])
        rung_values.append([0.0, *p[nk:].tolist()])
    return TerminalValue(edges, knots_arr.tolist(), buffer_values, rung_values)


def main(argv: list[str] | None = None) -> int:
    from bench.abr.schemes import DEFAULT

    parser = argparse.ArgumentParser(prog="python -m bench.abr.terminal", description=__doc__)
    parser.add_argument("--warmup", default="../shared/data/abr/cooked_traces")
    parser.add_argument("--video", default="../shared/data/abr/envivio")
    parser.add_argument("--out", default="services/abr/terminal_lin_envivio.json")
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--limit", type=int, default=0, help="first N training traces only")
    parser.add_argument("--forks", default="", help="also save the raw forks (npz) here")
    args = parser.parse_args(argv)
    video = load_video(Path(args.video))
    traces = load_trace_dir(Path(args.warmup))
    if args.limit:
        traces = traces[: args.limit]
    ladder = tuple(video.bitrates_kbps)
    forks = collect(lambda: DEFAULT.build(ladder), traces, video, args.every, args.depth)
    if args.forks:
        np.savez(
            args.forks,
            data=np.array([(f.state, f.trace, f.band, f.buffer_s, f.rung, f.ret) for f in forks]),
        )
    table = fit(forks, len(ladder))
    table.save(args.out)
    print(f"{len(forks)} forks -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
