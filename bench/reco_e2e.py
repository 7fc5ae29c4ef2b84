"""bench-reco-e2e: the MovieLens replay through telemetry → Kafka → recommendation, over gRPC.

The same prequential protocol as ``bench.reco``, but every event travels the
production path: it is sent to telemetry as a rating event, lands in Kafka, and
the recommendation service learns it from its consume loop; every "test" is a
``Recommend`` call over gRPC to the live service. Events are replayed in
timestamp order in small batches with at most one event per user (each user's
own history is always fully applied before they are asked again; other users'
events of the same batch may not be, which is the only difference from the
in-process run).

Freshness: after a batch is acknowledged by telemetry, its users are polled
until the answer shows the event applied; the time from the ack to that answer
is the freshness of that event. Then, on a 10,000-title catalogue, an open-loop
load of ``--rate`` Recommend calls per second from the Go load generator (``bench/loadgen``; a
Python client would take as much CPU per call as the server it measures) gives serving latency,
twice: once idle, once while telemetry keeps feeding the service ``--learn-rate`` events/s (the
replay's events again, new ids), since the live service learns and answers on one event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from bench import loadgen
from bench.common import ROOT, ServiceProcess, emit, free_port, percentile, progress
from bench.reco.data import load_ratings
from reelstream.catalog.v1 import catalog_pb2
from reelstream.platform.producer import DurableProducer
from reelstream.platform.topics import TopicNames, ensure_topics
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.recommendation.v1 import recommendation_pb2 as api
from reelstream.recommendation.v1 import recommendation_pb2_grpc as api_grpc
from reelstream.telemetry.v1 import telemetry_pb2 as tapi
from reelstream.telemetry.v1 import telemetry_pb2_grpc as tapi_grpc

DAY_MS = 86_400_000


def batches(data: np.ndarray) -> list[list[int]]:
    """Consecutive runs of event indices with no user twice (replay order kept)."""
    out: list[list[int]] = []
    current: list[int] = []
    users: set[int] = set()
    for j, u in enumerate(data[:, 0].astype(int).tolist()):
        if u in users:
            out.append(current)
            current, users = [], set()
        current.append(j)
        users.add(u)
    if current:
        out.append(current)
    return out


class Replay:
    """Drives the prequential replay and records hits, freshness and latencies."""

    def __init__(
        self,
        telemetry: tapi_grpc.TelemetryServiceStub,
        reco: api_grpc.RecommendationServiceStub,
        data: np.ndarray,
    ) -> None:
        self.telemetry, self.reco, self.data = telemetry, reco, data
        self.sent: dict[str, int] = {}
        self.hits10 = self.hits20 = 0
        self.freshness_ms: list[float] = []
        self.query_ms: list[float] = []
        # Event times are shifted to end now: telemetry rejects events older than 30 days, and the
        # model only uses differences of event times.
        self.shift_ms = int(time.time() * 1000) - int(data[-1, 3]) * 1000 - 60_000

    def event(self, j: int) -> pb.PlaybackEvent:
        u, i, r, ts = self.data[j].tolist()
        return pb.PlaybackEvent(
            event_id=f"ml-{j}",
            user_id=str(int(u)),
            title_id=str(int(i)),
            event_time_ms=int(ts) * 1000 + self.shift_ms,
            rating=pb.Rating(value=float(r)),
        )

    async def _test(self, j: int) -> None:
        user, item = str(int(self.data[j, 0])), str(int(self.data[j, 1]))
        if user not in self.sent:
            return  # a never-seen user is a miss by the protocol
        t0 = time.perf_counter()
        resp = await self.reco.Recommend(api.RecommendRequest(user_id=user, k=20))
        self.query_ms.append((time.perf_counter() - t0) * 1000)
        if resp.user_events_applied < self.sent[user]:
            raise RuntimeError(
                f"user {user}: {resp.user_events_applied} applied, {self.sent[user]} sent"
            )
        ids = [t.title_id for t in resp.titles]
        if item in ids:
            self.hits20 += 1
            self.hits10 += item in ids[:10]

    async def _applied(self, user: str, acked_at: float) -> None:
        want = self.sent[user]
        while True:
            resp = await self.reco.Recommend(api.RecommendRequest(user_id=user, k=1))
            if resp.user_events_applied >= want:
                self.freshness_ms.append((time.perf_counter() - acked_at) * 1000)
                return
            await asyncio.sleep(0.001)

    async def run(self, every: int = 10_000) -> None:
        done = 0
        t_start = time.perf_counter()
        for batch in batches(self.data):
            await asyncio.gather(*(self._test(j) for j in batch))
            ack = await self.telemetry.IngestBatch(
                tapi.EventBatch(events=[self.event(j) for j in batch])
            )
            acked_at = time.perf_counter()
            if ack.accepted != len(batch):
                raise RuntimeError(f"telemetry rejected events: {list(ack.rejections)[:3]}")
            users = [str(int(self.data[j, 0])) for j in batch]
            for u in users:
                self.sent[u] = self.sent.get(u, 0) + 1
            await asyncio.gather(*(self._applied(u, acked_at) for u in users))
            before, done = done, done + len(batch)
            if done // every > before // every:
                progress(
                    f"{done:,}/{len(self.data):,} events, recall@10 {self.hits10 / done:.4f}, "
                    f"freshness p99 {percentile(self.freshness_ms, 99):.0f} ms ({time.perf_counter() - t_start:.0f} s)"
                )


async def publish_catalog(bootstrap: str, topics: TopicNames, n_titles: int) -> None:
    """Catalogue records so the service holds ``n_titles`` titles (old releases: no exploration)."""
    producer = DurableProducer(bootstrap, "bench-catalog")
    records = [
        (
            f"extra-{k}".encode(),
            catalog_pb2.Title(
                title_id=f"extra-{k}",
                name=f"Extra {k}",
                genres=["drama"],
                duration_s=5400,
                release_time_ms=1,
            ).SerializeToString(),
        )
        for k in range(n_titles)
    ]
    await producer.send_batch(topics.catalog, records, len(records))
    producer.close()


async def keep_learning(
    telemetry: tapi_grpc.TelemetryServiceStub,
    replay: Replay,
    rate: float,
    stop: asyncio.Event,
) -> int:
    """Send the replay's events again (new ids) at ``rate``/s until ``stop``: serving while learning.

    Batches of ``rate / 20`` every 50 ms, in the data's order; returns how many were accepted.
    """
    per_batch = max(1, round(rate / 20))
    j, sent, t0 = 0, 0, time.perf_counter()
    while not stop.is_set():
        rows = [(j + i) % len(replay.data) for i in range(per_batch)]
        events = [replay.event(r) for r in rows]
        for ev, r in zip(events, rows, strict=True):
            ev.event_id = f"ml-again-{j}-{r}"
        ack = await telemetry.IngestBatch(tapi.EventBatch(events=events))
        sent += ack.accepted
        j += per_batch
        await asyncio.sleep(max(0.0, t0 + sent / rate - time.perf_counter()))
    return sent


def load_phase(
    addr: str, pid: int, users: list[str], rate: float, seconds: float, run_dir: Path
) -> dict[str, Any]:
    """Open-loop Recommend calls at ``rate``/s for ``seconds`` from the Go load generator.

    Returns its latency summary plus the server's CPU per call (from /proc).
    """
    users_file = run_dir / "users.txt"
    users_file.write_text("\n".join(users) + "\n")
    cpu0, t0 = loadgen.cpu_seconds(pid), time.monotonic()
    result = loadgen.run("recommend", addr, rate, seconds, users_file=users_file, k=10, warmup=3)
    cpu = loadgen.cpu_seconds(pid) - cpu0
    calls = int(result["ok"]) + int(rate / 4 * 3)
    result["server_cpu_ms_per_call"] = round(cpu / calls * 1000, 3)
    result["server_cpu_share"] = round(cpu / (time.monotonic() - t0), 3)
    return result


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    data = load_ratings(args.data)
    if args.limit:
        data = data[: args.limit]
    topics = TopicNames(f"bench-reco-e2e-{uuid.uuid4().hex[:8]}-")
    ensure_topics(args.bootstrap, topics.prefix)
    tport, rport = free_port(), free_port()
    env = {"KAFKA_BOOTSTRAP": args.bootstrap, "REELSTREAM_TOPIC_PREFIX": topics.prefix}
    run_dir = ROOT / "run" / "bench-reco-e2e"
    tel = ServiceProcess(
        "telemetry",
        {
            **env,
            "TELEMETRY_GRPC_PORT": str(tport),
            "TELEMETRY_METRICS_PORT": str(free_port()),
            "TELEMETRY_MAX_PAST_MS": str(400 * DAY_MS),
            "TELEMETRY_LOG_LEVEL": "WARNING",
        },
        run_dir,
    )
    rec = ServiceProcess(
        "recommendation",
        {
            **env,
            "RECOMMENDATION_GRPC_PORT": str(rport),
            "RECOMMENDATION_METRICS_PORT": str(free_port()),
            "RECOMMENDATION_SNAPSHOT_DIR": str(run_dir / "state"),
            "RECOMMENDATION_SNAPSHOT_INTERVAL_S": "3600",
            "RECOMMENDATION_LOG_LEVEL": "WARNING",
        },
        run_dir,
    )
    try:
        tel.wait_serving(tport)
        rec.wait_serving(rport)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{tport}") as tch,
            grpc.aio.insecure_channel(f"127.0.0.1:{rport}") as rch,
        ):
            replay = Replay(
                tapi_grpc.TelemetryServiceStub(tch), api_grpc.RecommendationServiceStub(rch), data
            )
            progress(f"replaying {len(data):,} events through telemetry → Kafka → recommendation")
            await replay.run()
            n_titles = len(set(data[:, 1].astype(int).tolist()))
            progress(f"growing the catalogue from {n_titles:,} to {args.catalog:,} titles")
            await publish_catalog(args.bootstrap, topics, max(0, args.catalog - n_titles))
            await asyncio.sleep(3)
            users = sorted(replay.sent)

            async def measure() -> dict[str, Any]:
                return await asyncio.to_thread(
                    load_phase,
                    f"127.0.0.1:{rport}",
                    rec.proc.pid,
                    users,
                    args.rate,
                    args.seconds,
                    run_dir,
                )

            progress(f"open-loop load: {args.rate:.0f} Recommend/s for {args.seconds:.0f} s")
            load = await measure()
            progress(
                f"the same load while learning {args.learn_rate:.0f} events/s "
                "(telemetry → Kafka → recommendation)"
            )
            stop = asyncio.Event()
            t_learn = time.perf_counter()
            learner = asyncio.ensure_future(
                keep_learning(tapi_grpc.TelemetryServiceStub(tch), replay, args.learn_rate, stop)
            )
            learning = await measure()
            stop.set()
            learned = await learner
            learned_per_s = learned / (time.perf_counter() - t_learn)
    finally:
        rec.stop()
        tel.stop()
    n = len(data)
    return {
        "events": n,
        "recall_at_10": round(replay.hits10 / n, 4),
        "recall_at_20": round(replay.hits20 / n, 4),
        "freshness_p50_ms": round(percentile(replay.freshness_ms, 50), 1),
        "freshness_p99_ms": round(percentile(replay.freshness_ms, 99), 1),
        "recommend_p50_ms": load["p50_ms"],
        "recommend_p99_ms": load["p99_ms"],
        "recommend_errors": sum(load["errors"].values()),
        "server_cpu_ms_per_call": load["server_cpu_ms_per_call"],
        "server_cpu_share": load["server_cpu_share"],
        "learning_recommend_p50_ms": learning["p50_ms"],
        "learning_recommend_p99_ms": learning["p99_ms"],
        "learning_recommend_errors": sum(learning["errors"].values()),
        "learning_server_cpu_ms_per_call": learning["server_cpu_ms_per_call"],
        "learning_events_per_s": round(learned_per_s, 1),
        "load_rps": args.rate,
        "catalog_titles": args.catalog,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/movielens-100k/u.data"))
    parser.add_argument("--limit", type=int, default=0, help="replay only the first N events")
    parser.add_argument("--catalog", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--learn-rate", type=float, default=500.0, help="events/s learned during the second load"
    )
    args = parser.parse_args()
    result = asyncio.run(amain(args))
    report = f"""# bench-reco-e2e

`python -m bench.reco_e2e --data {args.data}` — MovieLens replayed through telemetry → Kafka →
recommendation, tested over gRPC before each event is learned (prequential), then
{args.rate:.0f} Recommend/s on a {args.catalog:,}-title catalogue: first with the replay finished,
then again while telemetry keeps feeding the service {args.learn_rate:.0f} events/s (the service
learns and serves on one event loop, so this is the figure a live deployment sees).

| metric | value |
|---|---|
| events | {result["events"]:,} |
| recall@10 / @20 | {result["recall_at_10"]} / {result["recall_at_20"]} |
| freshness p50 / p99 (telemetry ack → visible over gRPC) | {result["freshness_p50_ms"]} / {result["freshness_p99_ms"]} ms |
| Recommend p50 / p99 at {args.rate:.0f}/s (open loop, Go load generator) | {result["recommend_p50_ms"]} / {result["recommend_p99_ms"]} ms ({result["recommend_errors"]} errors) |
| server CPU per Recommend / share of a core under the load | {result["server_cpu_ms_per_call"]} ms / {result["server_cpu_share"]} |
| the same load while learning {result["learning_events_per_s"]} events/s: Recommend p50 / p99 | {result["learning_recommend_p50_ms"]} / {result["learning_recommend_p99_ms"]} ms ({result["learning_recommend_errors"]} errors) |
| server CPU per Recommend while learning (learning included) | {result["learning_server_cpu_ms_per_call"]} ms |

Load average at the end of the run: {os.getloadavg()[0]:.2f} on 2 cores.

Compare recall with `make bench-reco` (the same learner in process): the target is a gap ≤ 0.01.
"""
    emit(result, "reco_e2e.md", report)


if __name__ == "__main__":
    main()
