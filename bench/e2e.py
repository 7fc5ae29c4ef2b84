"""bench-e2e: the full stack under a simulated audience of increasing size until a bound breaks.

Every service runs as its own process on a fresh set of topics, with a real Prometheus
scraping them. For each step the player-fleet simulator runs ``--step-seconds`` with a
larger audience while this process also asks churn for risks (CRM traffic). Over the
last part of each step it reads, from the services' own metrics: ingest events/s,
freshness p99 (telemetry ack → applied by recommendation), p99 of Recommend/HomeRows,
SelectBitrate (per request, stream or unary) and GetRisk, the largest consumer lag in seconds, and each process's RSS.
A step is within bounds when freshness p99 ≤ 1 s, recommend p99 ≤ 10 ms, ABR p99 ≤ 3 ms,
churn p99 ≤ 10 ms and lag ≤ 5 s; ``max_events_per_s`` is the highest ingest rate of a
step within bounds. At the end every dashboard query is run against Prometheus.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import uuid
from pathlib import Path

import grpc

from bench.common import ROOT, emit, free_port, progress
from reelstream.churn.v1 import churn_pb2, churn_pb2_grpc
from reelstream.platform.topics import TopicNames, ensure_topics
from services.stack.monitoring import PrometheusProcess, dashboard_queries
from services.stack.processes import (
    Running,
    ServiceSpec,
    service_env,
    start_service,
    stop_all,
    wait_serving,
)

TARGETS = {
    "freshness_p99_ms": 1000.0,
    "recommend_p99_ms": 10.0,
    "abr_p99_ms": 3.0,
    "churn_p99_ms": 10.0,
    "consumer_lag_max_s": 5.0,
}


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def p99_ms(prom: PrometheusProcess, selector: str, window: str) -> float:
    res = prom.query(f"histogram_quantile(0.99, sum by (le) (rate({selector}[{window}])))")
    values = [float(r["value"][1]) for r in res]
    return round(values[0] * 1000, 2) if values and values[0] == values[0] else float("nan")


async def crm_load(port: int, users: int, rate: float, stop: asyncio.Event) -> None:
    """GetRisk calls at ``rate``/s for random subscribers (what a CRM tool would do)."""
    rng = random.Random(3)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = churn_pb2_grpc.ChurnServiceStub(ch)
        while not stop.is_set():
            with contextlib.suppress(grpc.aio.AioRpcError):
                await stub.GetRisk(
                    churn_pb2.GetRiskRequest(user_id=f"sim-{rng.randrange(users):06d}"), timeout=1
                )
            await asyncio.sleep(1 / rate)


def measure_step(prom: PrometheusProcess, window_s: int) -> dict[str, float]:
    w = f"{window_s}s"
    ingest = prom.query(f"sum(rate(reelstream_telemetry_events_accepted_total[{w}]))")
    lag = prom.query("max(reelstream_consumer_lag_seconds)")
    return {
        "events_per_s": round(float(ingest[0]["value"][1]), 1) if ingest else 0.0,
        "freshness_p99_ms": p99_ms(prom, "reelstream_reco_freshness_seconds_bucket", w),
        "recommend_p99_ms": p99_ms(
            prom,
            'grpc_server_handling_seconds_bucket{job="recommendation",grpc_method=~"Recommend|HomeRows"}',
            w,
        ),
        "abr_p99_ms": p99_ms(prom, 'reelstream_abr_request_seconds_bucket{job="abr"}', w),
        "churn_p99_ms": p99_ms(
            prom, 'grpc_server_handling_seconds_bucket{job="churn",grpc_method="GetRisk"}', w
        ),
        "consumer_lag_max_s": round(float(lag[0]["value"][1]), 2) if lag else 0.0,
    }


def within(step: dict[str, float]) -> bool:
    return all(step[k] == step[k] and step[k] <= bound for k, bound in TARGETS.items())


async def amain(args: argparse.Namespace) -> dict[str, object]:
    topics = TopicNames(f"bench-e2e-{uuid.uuid4().hex[:8]}-")
    ensure_topics(args.bootstrap, topics.prefix)
    work = ROOT / "run" / "bench-e2e"
    # Every run has fresh topics, so state from an earlier run is meaningless (the features
    # app would refuse RocksDB offsets beyond its new, empty changelog).
    shutil.rmtree(work / "state", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    specs = {
        s.name: s
        for s in (
            ServiceSpec("telemetry", free_port(), free_port()),
            ServiceSpec("recommendation", free_port(), free_port()),
            ServiceSpec("abr", free_port(), free_port()),
            ServiceSpec("features", None, free_port()),
            ServiceSpec("churn", free_port(), free_port()),
        )
    }
    base = {"KAFKA_BOOTSTRAP": args.bootstrap, "REELSTREAM_TOPIC_PREFIX": topics.prefix}
    running: list[Running] = []
    prom: PrometheusProcess | None = None
    steps: list[dict[str, float]] = []
    rss: dict[str, float] = {}
    try:
        for spec in specs.values():
            env = {
                **base,
                **service_env(
                    spec,
                    work / "state",
                    log_level="WARNING",
                    features_web_port=free_port(),
                    recommendation_port=specs["recommendation"].grpc_port or 0,
                ),
            }
            # The features app aggregates with seconds of slack (its bound is lag); the gRPC
            # services answer players in milliseconds, so they get the CPU first, as CPU shares
            # would give them in a cluster.
            r = start_service(spec, env, work, niceness=5 if spec.name == "features" else 0)
            running.append(r)
            await asyncio.to_thread(wait_serving, r)
        sim_spec = ServiceSpec("simulator", None, free_port())
        jobs = {n: s.metrics_port for n, s in specs.items()} | {"simulator": sim_spec.metrics_port}
        prom = PrometheusProcess(jobs, work / "prometheus", free_port())
        for users in args.users:
            progress(f"step: {users} simulated subscribers for {args.step_seconds:.0f} s")
            sim = start_service(
                sim_spec,
                {
                    **base,
                    "SIMULATOR_TELEMETRY_ADDR": f"127.0.0.1:{specs['telemetry'].grpc_port}",
                    "SIMULATOR_RECOMMENDATION_ADDR": f"127.0.0.1:{specs['recommendation'].grpc_port}",
                    "SIMULATOR_ABR_ADDR": f"127.0.0.1:{specs['abr'].grpc_port}",
                    "SIMULATOR_USERS": str(users),
                    "SIMULATOR_TITLES": "2000",
                    "SIMULATOR_SPEED": str(args.speed),
                    "SIMULATOR_DURATION_S": str(args.step_seconds),
                    "SIMULATOR_METRICS_PORT": str(sim_spec.metrics_port),
                    "SIMULATOR_SUMMARY_PATH": str(work / f"summary-{users}.json"),
                    "SIMULATOR_LOG_LEVEL": "WARNING",
                    "SIMULATOR_MAX_SIM_DAYS": "7",
                },
                work,
                niceness=10,  # the audience is the load generator: the services get the CPU first
            )
            stop = asyncio.Event()
            crm = asyncio.ensure_future(crm_load(specs["churn"].grpc_port or 0, users, 20.0, stop))
            await asyncio.sleep(args.step_seconds)
            step = {"users": float(users), **measure_step(prom, int(args.step_seconds * 0.6))}
            for r in running:
                rss[r.spec.name] = max(rss.get(r.spec.name, 0.0), round(rss_mb(r.proc.pid), 1))
            stop.set()
            await crm
            stop_all([sim])
            steps.append(step)
            progress(f"  {step}")
            if not within(step):
                progress("  a bound broke: stopping the ramp")
                break
        queries = dashboard_queries()
        ok = sum(1 for _title, expr in queries if prom.query(expr))
    finally:
        if prom is not None:
            prom.stop()
        stop_all(running)
    good = [s for s in steps if within(s)]
    best = max(good, key=lambda s: s["events_per_s"]) if good else (steps[0] if steps else {})
    return {
        "max_events_per_s": best.get("events_per_s", 0.0) if good else 0.0,
        "freshness_p99_ms": best.get("freshness_p99_ms"),
        "recommend_p99_ms": best.get("recommend_p99_ms"),
        "abr_p99_ms": best.get("abr_p99_ms"),
        "churn_p99_ms": best.get("churn_p99_ms"),
        "consumer_lag_max_s": best.get("consumer_lag_max_s"),
        "rss_mb_max": rss,
        "dashboard_queries_ok": f"{ok}/{len(queries)}",
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument(
        "--users", type=lambda s: [int(x) for x in s.split(",")], default=[100, 300, 1000, 3000]
    )
    parser.add_argument("--speed", type=float, default=600.0, help="simulated seconds per second")
    parser.add_argument("--step-seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = asyncio.run(amain(args))
    rows = "\n".join(
        f"| {int(s['users'])} | {s['events_per_s']:,.0f} | {s['freshness_p99_ms']} | {s['recommend_p99_ms']} | "
        f"{s['abr_p99_ms']} | {s['churn_p99_ms']} | {s['consumer_lag_max_s']} | {'yes' if within(s) else 'no'} |"
        for s in result["steps"]  # type: ignore[attr-defined]
    )
    report = f"""# bench-e2e

`python -m bench.e2e --users {",".join(map(str, args.users))} --speed {args.speed:g} --step-seconds {args.step_seconds:g}`

The whole stack (five services, one process each) on one 2-core machine with the Kafka broker,
Prometheus and the simulator beside it. Bounds: {TARGETS}.

| subscribers | ingest events/s | freshness p99 ms | recommend p99 ms | ABR p99 ms | churn p99 ms | max lag s | within bounds |
|---|---|---|---|---|---|---|---|
{rows}

Peak RSS per process (MB): {result["rss_mb_max"]}. Dashboard queries returning data: {result["dashboard_queries_ok"]}.
"""
    emit(result, "e2e.md", report)


if __name__ == "__main__":
    main()
