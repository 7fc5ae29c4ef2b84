"""The churn benchmark loop: simulated events -> engagement features -> online churn model -> actions."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.churn.simulator import DAY_S, HazardCoefficients, Population
from bench.churn.stream import EventStream
from services.churn.actions import ActionKind, RetentionPolicy
from services.churn.labels import DelayedLabeler, Labelled
from services.churn.model import ChurnModel, Pending
from services.features.engagement import FEATURE_NAMES, EngagementTracker
from services.features.events import EventKind, Snapshot
from services.features.state import UserEngagement


class FlakyRecommender:
    """Stands in for the recommendation service: fails every ``fail_every``-th call."""

    def __init__(self, fail_every: int = 10) -> None:
        self.fail_every = fail_every
        self.calls = 0

    def __call__(self, user_id: str, kind: ActionKind, limit: int) -> Sequence[str]:
        self.calls += 1
        if self.calls % self.fail_every == 0:
            raise TimeoutError("recommendation deadline exceeded")
        return [f"t{(hash(user_id) + i) % 3000}" for i in range(limit)]


@dataclass
class Records:
    """Every labelled snapshot, in label order, with what each model said at snapshot time."""

    user: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    label: list[bool] = field(default_factory=list)
    served: list[float] = field(default_factory=list)
    cands: dict[str, list[float]] = field(default_factory=dict)
    features: list[list[float]] = field(default_factory=list)
    oracle: list[float] = field(default_factory=list)
    truth: list[bool] = field(default_factory=list)

    def add(self, items: list[Labelled[Pending]], pop: Population, horizon_s: float) -> None:
        for it in items:
            u = int(it.user_id[1:])
            p = it.payload
            self.user.append(u)
            self.time.append(it.time)
            self.label.append(it.label)
            self.served.append(p.served)
            for name, v in p.raw.items():
                self.cands.setdefault(name, []).append(v)
            for name, v in p.calibrated.items():
                self.cands.setdefault(f"{name}:platt", []).append(v)
            self.features.append([p.features[n] for n in FEATURE_NAMES])
            day = int(it.time // DAY_S)
            self.oracle.append(float(pop.hazard_window(u, day)))
            c = (pop.cancel_day[u] + pop.cancel_frac[u]) * DAY_S
            self.truth.append(bool(it.time < c <= it.time + horizon_s))


@dataclass
class RunResult:
    """Everything the report needs."""

    pop: Population
    records: Records
    model: ChurnModel
    policy: RetentionPolicy
    events: int
    snapshots: int
    feature_seconds: float
    tick_seconds: float
    model_seconds: float
    wall_seconds: float
    cpu_seconds: float  # the whole run, this process (stage timers above are CPU seconds too)
    dropped_late: int
    duplicates: int
    actions: dict[str, int]
    degraded_actions: int
    active_history: list[tuple[int, str]]


def run(
    users: int,
    days: int,
    seed: int,
    threshold: float = 0.3,
    train_horizon_days: float = 30.0,
    coef: HazardCoefficients | None = None,
) -> RunResult:
    """Stream ``days`` of ``users`` through the features, the churn model and the policy."""
    wall = time.perf_counter()
    cpu = time.process_time()
    pop = Population(users, days, seed, coef=coef)
    stream = EventStream(pop, seed)
    tracker = EngagementTracker()
    horizon_s = pop.horizon * DAY_S
    model = ChurnModel(
        labeler=DelayedLabeler(horizon_s=horizon_s), train_horizon_s=train_horizon_days * DAY_S
    )
    policy = RetentionPolicy(threshold=threshold, recommender=FlakyRecommender())
    states: dict[str, UserEngagement] = {}
    rec = Records()
    actions: dict[str, int] = {k.value: 0 for k in ActionKind}
    degraded = 0
    feat_s = tick_s = model_s = 0.0
    n_events = n_snaps = dropped = dups = 0
    active_hist: list[tuple[int, str]] = []

    def churn(snap: Snapshot) -> None:
        nonlocal degraded
        risk = model.observe(snap.user_id, snap.time, snap.features, snap.unfinished_title)
        act = policy.observe(
            snap.user_id,
            snap.time,
            risk,
            lambda: model.explain(snap.user_id),
            snap.unfinished_title,
        )
        if act is not None:
            actions[act.kind.value] += 1
            degraded += act.degraded

    for day in range(days):
        events = stream.deliver(day)
        # Features: the per-event code the faust agent runs.
        t = time.process_time()
        out: list[Snapshot | tuple[str, float]] = []
        for ev in events:
            st = states.get(ev.user_id)
            if st is None:
                st = states[ev.user_id] = tracker.new_state(ev.user_id)
            snap = tracker.apply(st, ev)
            if snap is not None:
                out.append(snap)
            if ev.kind is EventKind.CANCEL:
                out.append((ev.user_id, ev.time))
        feat_s += time.process_time() - t
        n_events += len(events)
        # Daily tick at the end of the event-time day.
        now = (day + 1) * DAY_S - 1.0
        t = time.process_time()
        out.extend(tracker.tick_many(list(states.values()), now))
        for uid in [u for u, st in states.items() if tracker.is_expired(st, now)]:
            dropped += states[uid].dropped_late
            dups += states[uid].duplicates
            del states[uid]
        tick_s += time.process_time() - t
        # Churn: snapshots and cancels in the order the features produced them.
        t = time.process_time()
        for item in out:
            if isinstance(item, Snapshot):
                n_snaps += 1
                churn(item)
            else:
                uid, c = item
                rec.add(model.observe_cancel(uid, c), pop, horizon_s)
                policy.forget(uid)
        rec.add(model.advance(now), pop, horizon_s)
        model_s += time.process_time() - t
        active_hist.append((day, model.active))
        m = model.metrics()
        aucs = " ".join(f"{n}={v['auc']:.3f}" for n, v in m.items())
        print(
            f"[churn] day {day + 1}/{days} events={n_events} snapshots={n_snaps} "
            f"labels={model.n_labels} train={model.n_train} users={len(states)} auc[{aucs}] active={model.active} "
            f"feat={feat_s:.0f}s tick={tick_s:.0f}s model={model_s:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    dropped += sum(s.dropped_late for s in states.values())
    dups += sum(s.duplicates for s in states.values())
    return RunResult(
        pop,
        rec,
        model,
        policy,
        n_events,
        n_snaps,
        feat_s,
        tick_s,
        model_s,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        dropped,
        dups,
        actions,
        degraded,
        active_hist,
    )


def as_arrays(rec: Records) -> dict[str, np.ndarray]:
    """The records as numpy arrays, sorted by snapshot time."""
    order = np.argsort(np.asarray(rec.time), kind="stable")
    out = {
        "user": np.asarray(rec.user)[order],
        "time": np.asarray(rec.time)[order],
        "label": np.asarray(rec.label, dtype=bool)[order],
        "served": np.asarray(rec.served)[order],
        "X": np.asarray(rec.features)[order],
        "oracle": np.asarray(rec.oracle)[order],
        "truth": np.asarray(rec.truth, dtype=bool)[order],
    }
    for name, v in rec.cands.items():
        out[f"cand_{name}"] = np.asarray(v)[order]
    return out
