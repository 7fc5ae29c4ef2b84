"""``make run``: the whole stack on a local Kafka, with a simulated audience and a live view.

Starts Kafka (``deploy/kafka/kafka.sh``), creates the declared topics, starts every
service as its own process (telemetry, recommendation, abr, features, churn), waits
for each to report SERVING, then starts the player-fleet simulator. The live view
shows events, latencies, lag, what the models have learned and the experiment arms.
Ctrl-C (or ``--duration``) stops the audience first, then the services in reverse
order, and writes ``run/report.md`` with PNG plots and the experiment readout.
``python -m services.stack stop`` (``make stop``) ends what a detached or crashed run
left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

from reelstream.platform.topics import ensure_topics
from services.stack import report
from services.stack.processes import (
    ROOT,
    Running,
    ServiceSpec,
    service_env,
    start_kafka,
    start_service,
    stop_all,
    stop_from_pidfile,
    wait_serving,
    write_pids,
)
from services.stack.view import LiveView

RUN_DIR = ROOT / "run"
PIDFILE = RUN_DIR / "stack.pids"

SERVICES = (
    ServiceSpec("telemetry", 50051, 9101),
    ServiceSpec("recommendation", 50052, 9102),
    ServiceSpec("abr", 50053, 9103),
    ServiceSpec("features", None, 9105),
    ServiceSpec("churn", 50054, 9104),
)
SIMULATOR = ServiceSpec("simulator", None, 9106)


def simulator_env(args: argparse.Namespace, run_dir: Path) -> dict[str, str]:
    """The audience: size, speed, and where to write its summary."""
    env = {
        "SIMULATOR_USERS": str(args.users),
        "SIMULATOR_TITLES": str(args.titles),
        "SIMULATOR_SPEED": str(args.speed),
        "SIMULATOR_ABR_LEARNED_SHARE": str(args.abr_learned_share),
        "SIMULATOR_REC_PRE_PERIOD_H": str(args.rec_pre_period_h),
        "SIMULATOR_METRICS_PORT": str(SIMULATOR.metrics_port),
        "SIMULATOR_SUMMARY_PATH": str(run_dir / "simulator_summary.json"),
        "SIMULATOR_LOG_LEVEL": "INFO",
    }
    if args.traces:
        env["SIMULATOR_TRACE_DIR"] = str(args.traces)
    return env


async def run(args: argparse.Namespace) -> int:
    RUN_DIR.mkdir(exist_ok=True)
    if PIDFILE.exists():
        stop_from_pidfile(PIDFILE)
    if not args.resume:
        # A fresh run: models learn from this run's audience (and old snapshots may come from
        # another version of the code). --resume keeps the models and offsets of the last run.
        shutil.rmtree(RUN_DIR / "state", ignore_errors=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", f"127.0.0.1:{args.kafka_port}")
    if "KAFKA_BOOTSTRAP" not in os.environ:
        print(f"starting Kafka on {bootstrap} ...", flush=True)
        start_kafka(args.kafka_port)
    created = ensure_topics(bootstrap)
    print(f"topics ready ({len(created)} created)", flush=True)
    running: list[Running] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    view = LiveView([*SERVICES, SIMULATOR])
    base = {"KAFKA_BOOTSTRAP": bootstrap}
    try:
        for spec in SERVICES:
            print(f"starting {spec.name} ...", flush=True)
            env = service_env(spec, RUN_DIR / "state", recommendation_port=50052)
            r = start_service(spec, {**base, **env}, RUN_DIR)
            running.append(r)
            write_pids(PIDFILE, running)
            await asyncio.to_thread(wait_serving, r)
        print("all services SERVING; starting the audience (Ctrl-C to stop)", flush=True)
        sim = start_service(SIMULATOR, {**base, **simulator_env(args, RUN_DIR)}, RUN_DIR)
        running.append(sim)
        write_pids(PIDFILE, running)
        done = asyncio.Event()
        loop.run_in_executor(None, lambda: (sim.proc.wait(), loop.call_soon_threadsafe(done.set)))
        deadline = loop.time() + args.duration if args.duration else None
        await view.run(stop, deadline, done)
    finally:
        print("stopping ...", flush=True)
        stop_all(running)
        if PIDFILE.exists():
            PIDFILE.unlink()
    path = report.write(view, RUN_DIR, RUN_DIR / "simulator_summary.json")
    print(f"report: {path}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Reelstream stack locally.")
    parser.add_argument("cmd", nargs="?", choices=["run", "stop"], default="run")
    # Defaults: a five-minute run whose report reads out both experiments (see
    # bench/results/make_run.md for what this size detects on a 2-core machine).
    parser.add_argument(
        "--duration",
        type=float,
        default=1800,
        help="seconds; 0 = until Ctrl-C (30 min: about 6 simulated days, enough for the hours "
        "watched of the two recommendation arms to separate; Ctrl-C earlier still reports)",
    )
    parser.add_argument("--users", type=int, default=1000, help="simulated subscribers")
    parser.add_argument("--titles", type=int, default=2000, help="catalogue size")
    parser.add_argument(
        "--speed",
        type=float,
        default=300.0,
        help="simulated seconds per second (learned-ABR sessions wait for one RPC per 4-s chunk)",
    )
    parser.add_argument(
        "--abr-learned-share",
        type=float,
        default=float(os.environ.get("SIMULATOR_ABR_LEARNED_SHARE", 0.25)),
        help="share of playback sessions in the learned-ABR arm (the rest: client-side BBA)",
    )
    parser.add_argument(
        "--rec-pre-period-h",
        type=float,
        default=float(os.environ.get("SIMULATOR_REC_PRE_PERIOD_H", 12.0)),
        help="simulated hours everyone gets popularity rows before the recommendation arms split",
    )
    parser.add_argument("--traces", type=Path, default=None, help="folder of real bandwidth traces")
    parser.add_argument("--resume", action="store_true", help="keep the models of the last run")
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("KAFKA_PORT", 9092)))
    args = parser.parse_args()
    if args.cmd == "stop":
        n = stop_from_pidfile(PIDFILE)
        print(f"stopped {n} process(es)")
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
