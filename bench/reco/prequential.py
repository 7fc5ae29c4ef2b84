"""The prequential protocol: for each event, recommend first, count the hit, then learn."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol

import numpy as np

from services.recommendation.model import Feedback


class Learner(Protocol):
    def learn_one(self, fb: Feedback) -> None: ...

    def recommend(
        self, user: Hashable, k: int = 10, exclude: Iterable[Hashable] = ()
    ) -> list[tuple[Hashable, float]]: ...


@dataclasses.dataclass
class Result:
    name: str
    events: int
    hits10: np.ndarray  # per event, 1 if a hit in the top 10
    hits20: np.ndarray
    learn_s: float  # total wall time inside learn_one
    rank_ms: np.ndarray  # wall time of each recommend call
    learn_cpu_s: float  # the same, in CPU time of this thread (immune to other processes)
    rank_cpu_ms: np.ndarray

    @property
    def recall10(self) -> float:
        return float(self.hits10.mean()) if self.events else 0.0

    @property
    def recall20(self) -> float:
        return float(self.hits20.mean()) if self.events else 0.0

    @property
    def updates_per_s(self) -> float:
        return self.events / self.learn_s if self.learn_s > 0 else 0.0

    @property
    def rank_p99_ms(self) -> float:
        return float(np.percentile(self.rank_ms, 99)) if self.rank_ms.size else 0.0

    @property
    def updates_per_s_cpu(self) -> float:
        return self.events / self.learn_cpu_s if self.learn_cpu_s > 0 else 0.0

    @property
    def rank_p99_ms_cpu(self) -> float:
        return float(np.percentile(self.rank_cpu_ms, 99)) if self.rank_cpu_ms.size else 0.0


def run(name: str, make: Callable[[], Learner], data: np.ndarray, every: int = 10000) -> Result:
    """Replay `data` (user, item, rating, ts rows in replay order) through a fresh learner."""
    model = make()
    n = data.shape[0]
    hits10 = np.zeros(n, dtype=np.uint8)
    hits20 = np.zeros(n, dtype=np.uint8)
    rank_ms = np.zeros(n, dtype=np.float64)
    rank_cpu_ms = np.zeros(n, dtype=np.float64)
    n_ranked = 0
    consumed: dict[int, set[int]] = {}
    learn_s = learn_cpu_s = 0.0
    clock = time.perf_counter
    cpu = time.thread_time
    t_start = clock()
    for e, (u_f, i_f, r, ts) in enumerate(data.tolist()):
        u, i = int(u_f), int(i_f)
        seen = consumed.get(u)
        if seen is not None:  # a never-seen user is a miss by the protocol
            t0, c0 = clock(), cpu()
            top = model.recommend(u, 20, exclude=seen)
            rank_ms[n_ranked] = (clock() - t0) * 1e3
            rank_cpu_ms[n_ranked] = (cpu() - c0) * 1e3
            n_ranked += 1
            ids = [x for x, _ in top]
            if i in ids:
                hits20[e] = 1
                if i in ids[:10]:
                    hits10[e] = 1
        else:
            seen = consumed[u] = set()
        fb = Feedback(u, i, "rating", ts, progress=1.0, rating=r)
        t0, c0 = clock(), cpu()
        model.learn_one(fb)
        learn_s += clock() - t0
        learn_cpu_s += cpu() - c0
        seen.add(i)
        if (e + 1) % every == 0 or e + 1 == n:
            print(
                f"[{name}] {e + 1}/{n} recall@10 {hits10[: e + 1].mean():.4f} "
                f"({clock() - t_start:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    return Result(
        name, n, hits10, hits20, learn_s, rank_ms[:n_ranked], learn_cpu_s, rank_cpu_ms[:n_ranked]
    )


def learn_rate(make: Callable[[], Learner], data: np.ndarray) -> tuple[float, float]:
    """(wall, CPU) learn_one calls per second of a fresh learner fed the stream alone."""
    model = make()
    fbs = [Feedback(int(u), int(i), "rating", ts, 1.0, r) for u, i, r, ts in data.tolist()]
    t0, c0 = time.perf_counter(), time.thread_time()
    for fb in fbs:
        model.learn_one(fb)
    wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
    return len(fbs) / wall, len(fbs) / cpu
