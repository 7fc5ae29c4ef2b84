"""The discrete-event loop: a heap of (simulated time, viewer) actions run against a fast clock.

Each due action runs either inline (no RPC: it completes without yielding) or,
when it calls a service, as a task, up to ``max_concurrency`` at a time, so
the abr and recommendation calls of many sessions are in flight together. A
viewer has at most one pending action, so its events stay in order whatever
order the tasks finish in. No viewer runs more than ``max_skew_s`` simulated
seconds ahead of one still waiting for its RPC, so all viewers share (nearly)
one simulated "now"; the price is that a learned-ABR session, which needs one
round trip per 4-s chunk, caps the speed at about ``4 s / RPC latency``. Once a
simulated day a tick draws cancellations from the hazard model (vectorised
over all subscribers), plan changes and new signups, and releases that day's
new titles.

If the fleet cannot keep up with the clock it lags (``lag`` in the progress
line and ``reelstream_simulator_lag_seconds``); simulated behaviour does not
depend on how fast it runs, only the RPC answers do.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from services.simulator import metrics
from services.simulator.clock import SimClock
from services.simulator.cms import CatalogPublisher
from services.simulator.hazard import HazardModel
from services.simulator.sink import TelemetrySink
from services.simulator.viewer import Phase, Viewers

log = logging.getLogger(__name__)
DAY_S = 86_400.0
TICK = -1  # the daily tick's pseudo-viewer


@dataclass(frozen=True)
class FleetConfig:
    """How many start, how many join, how hard to push."""

    initial_users: int
    signups_per_day: float = 0.005
    plan_changes_per_day: float = 0.003
    max_concurrency: int = 256
    max_skew_s: float = 600.0  # how far (simulated) one viewer may run ahead of another
    backlog_high_water: int = 50_000
    progress_interval_s: float = 5.0
    seed: int = 7


class Fleet:
    """Drives every viewer through simulated time."""

    def __init__(
        self,
        viewers: Viewers,
        clock: SimClock,
        sink: TelemetrySink,
        cms: CatalogPublisher | None,
        config: FleetConfig,
        hazard: HazardModel | None = None,
    ) -> None:
        self.viewers = viewers
        self.clock = clock
        self.sink = sink
        self.cms = cms
        self.config = config
        self.hazard = hazard or HazardModel()
        self.rng = np.random.default_rng([config.seed, 1])
        self.heap: list[tuple[float, int, int]] = []
        self._seq = 0
        self.sim_t = clock.start  # time of the last action started
        self.in_flight = 0
        self._flight: list[tuple[float, int]] = []  # (sim time, key) of running RPC actions
        self._finished: set[int] = set()
        self._slot = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.next_user = config.initial_users  # reserve pool for later signups
        self.actions = 0
        self.action_errors = 0
        self.days = 0
        self.backpressure_s = 0.0  # real seconds the fleet waited for telemetry to catch up
        self.slowest_action_s = 0.0  # real seconds of the slowest RPC-bound action

    def push(self, t: float, u: int) -> None:
        """Schedule viewer ``u``'s next action at ``t``."""
        self._seq += 1
        heapq.heappush(self.heap, (t, self._seq, u))

    def seed_schedule(self) -> None:
        """Initial signups spread over the first simulated hour, and the daily ticks."""
        start = self.clock.start
        for u in range(self.config.initial_users):
            self.push(start + float(self.rng.uniform(0.0, 3600.0)), u)
        self.push(start + DAY_S, TICK)

    # -- daily tick -----------------------------------------------------------------------------

    def day_tick(self, t: float) -> None:
        """Cancellations, plan changes, signups, new releases; then schedule tomorrow's tick."""
        self.days += 1
        v = self.viewers
        active = np.flatnonzero([s.active and not s.cancelled for s in v.states])
        if len(active):
            p = v.recent.hazard(self.hazard, active)
            for u in active[self.rng.random(len(active)) < p].tolist():
                if v.is_idle(u):
                    v.cancel(u, t)
                else:
                    v.states[u].cancel_pending = True  # cancels when this sitting ends
        if len(active):
            for u in active[self.rng.random(len(active)) < self.config.plan_changes_per_day]:
                if not v.states[u].cancelled:
                    v.change_plan(int(u), t)
        n_new = int(self.rng.poisson(self.config.signups_per_day * self.config.initial_users))
        for _ in range(min(n_new, len(v.states) - self.next_user)):
            self.push(t + float(self.rng.uniform(0.0, DAY_S)), self.next_user)
            self.next_user += 1
        if self.cms is not None:
            self._spawn(self.cms.publish(v.cat.released_in(t, t + DAY_S)))
        metrics.SUBSCRIBERS.set(sum(s.active and not s.cancelled for s in v.states))
        self.push(t + DAY_S, TICK)

    # -- the loop -------------------------------------------------------------------------------

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_action(self, u: int, t: float, key: int) -> None:
        t0 = time.monotonic()
        try:
            nt = await self.viewers.act(u, t)
        except Exception:
            nt = self._recover(u, t)
        finally:
            self.in_flight -= 1
            self._finished.add(key)
            self._slot.set()
            self.slowest_action_s = max(self.slowest_action_s, time.monotonic() - t0)
        if nt is not None:
            self.push(nt, u)

    def oldest_in_flight(self) -> float:
        """Simulated time of the oldest RPC-bound action still running (inf if none)."""
        flight = self._flight
        while flight and flight[0][1] in self._finished:
            self._finished.discard(heapq.heappop(flight)[1])
        return flight[0][0] if flight else math.inf

    def _recover(self, u: int, t: float) -> float | None:
        # A bug in one viewer's step must not stop the fleet: log it, send the viewer home.
        self.action_errors += 1
        if self.action_errors <= 5:
            log.exception("viewer action failed", extra={"user": u})
        st = self.viewers.states[u]
        if st.viewing is not None:
            st.viewing = None
            self.viewers.viewing_now -= 1
        st.phase = Phase.IDLE
        return t + DAY_S / 2

    async def run(self, stop: asyncio.Event) -> None:
        """Process due actions until ``stop``; then let in-flight ones finish (5 s at most)."""
        cfg = self.config
        next_progress = time.monotonic() + cfg.progress_interval_s
        self._progress_t0 = (time.monotonic(), 0)
        inline = 0
        while not stop.is_set():
            now = self.clock.now()
            heap = self.heap
            if heap and heap[0][0] <= now:
                # Wait for a running action if too many run, or if going on would put this
                # viewer more than max_skew_s ahead of one still waiting for its RPC.
                if (
                    self.in_flight >= cfg.max_concurrency
                    or heap[0][0] > self.oldest_in_flight() + cfg.max_skew_s
                ):
                    self._slot.clear()
                    await self._slot.wait()
                    continue
                t, _, u = heapq.heappop(heap)
                self.sim_t = t
                self.actions += 1
                if u == TICK:
                    self.day_tick(t)
                elif self.viewers.needs_rpc(u):
                    self.in_flight += 1
                    self._seq += 1
                    heapq.heappush(self._flight, (t, self._seq))
                    self._spawn(self._run_action(u, t, self._seq))
                else:
                    try:  # no RPC: completes without suspending
                        nt = await self.viewers.act(u, t, rpc=False)
                    except Exception:
                        nt = self._recover(u, t)
                    if nt is not None:
                        self.push(nt, u)
                    inline += 1
                    if inline % (5 if self.in_flight else 50) == 0:
                        await asyncio.sleep(0)  # let the sink, acks and RPCs run
                if self.sink.backlog >= cfg.backlog_high_water:
                    t_block = time.monotonic()
                    await self.sink.wait_backlog_below(cfg.backlog_high_water // 2)
                    self.backpressure_s += time.monotonic() - t_block
            else:
                wait = self.clock.real_delay(heap[0][0]) if heap else 0.05
                await asyncio.sleep(min(max(wait, 0.001), 0.05))
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + cfg.progress_interval_s
                self.progress()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)

    def frontier(self) -> float:
        """Simulated time through which every due action has been started."""
        now = min(self.clock.now(), self.oldest_in_flight())
        return min(now, self.heap[0][0]) if self.heap else now

    def progress(self) -> None:
        """One progress line on stderr (and the gauges)."""
        now_real = time.monotonic()
        sent = sum(self.sink.sent.values())
        t0, sent0 = self._progress_t0
        rate = (sent - sent0) / max(now_real - t0, 1e-9)
        self._progress_t0 = (now_real, sent)
        sim_t = self.frontier()
        lag = max(self.clock.now() - sim_t, 0.0)
        metrics.SIM_LAG.set(lag)
        metrics.SIM_TIME.set(sim_t)
        v = self.viewers
        subs = sum(s.active and not s.cancelled for s in v.states)
        stamp = datetime.fromtimestamp(sim_t, UTC).strftime("%Y-%m-%d %H:%M")
        day = (sim_t - self.clock.start) / DAY_S
        print(
            f"[simulator] sim {stamp} (day {day:.2f}) subscribers {subs} viewing {v.viewing_now}"
            f" | events acked {sent} ({rate:.0f}/s) backlog {self.sink.backlog}"
            f" waited {self.backpressure_s:.1f}s | in flight {self.in_flight}"
            f" | lag {lag:.0f}s | rpc errors rec {v.svc.rec.errors} abr {v.svc.abr.errors}"
            f" fallbacks rec {v.svc.rec.fallbacks} abr {v.svc.abr.fallbacks}",
            file=sys.stderr,
            flush=True,
        )
