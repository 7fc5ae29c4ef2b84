"""``make run``: the local stack on a local Kafka, with a live terminal view.

Starts Kafka (``deploy/kafka/kafka.sh``), creates the declared topics, starts
every service that exists as its own process, then the audience, and shows a
live view of what the metrics endpoints say. Ctrl-C (or ``--duration``) stops
everything in order and writes ``run/report.md``. ``python -m services.stack stop``
(``make stop``) ends whatever a detached or crashed run left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from reelstream.platform.topics import ensure_topics
from services.stack.feeder import feed
from services.stack.processes import (
    ROOT,
    Running,
    ServiceSpec,
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


def service_env(spec: ServiceSpec, run_dir: Path) -> dict[str, str]:
    """Ports and state locations for one service, in its own env prefix."""
    prefix = spec.name.upper()
    env = {
        f"{prefix}_METRICS_PORT": str(spec.metrics_port),
        f"{prefix}_SNAPSHOT_DIR": str(run_dir / "state"),
        f"{prefix}_LOG_LEVEL": "INFO",
    }
    if spec.grpc_port is not None:
        env[f"{prefix}_GRPC_PORT"] = str(spec.grpc_port)
    return env


async def run(args: argparse.Namespace) -> int:
    RUN_DIR.mkdir(exist_ok=True)
    if PIDFILE.exists():
        stop_from_pidfile(PIDFILE)
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
    try:
        for spec in SERVICES:
            if not spec.exists():
                continue
            spec_env = {"KAFKA_BOOTSTRAP": bootstrap, **service_env(spec, RUN_DIR)}
            print(f"starting {spec.name} ...", flush=True)
            r = start_service(spec, spec_env, RUN_DIR)
            running.append(r)
            write_pids(PIDFILE, running)
            await asyncio.to_thread(wait_serving, r)
        print("all services SERVING; starting the audience (Ctrl-C to stop)", flush=True)
        view = LiveView([r.spec for r in running])
        feeder = asyncio.ensure_future(feed(50051, args.rate, stop))
        deadline = time.monotonic() + args.duration if args.duration else None
        await view.run(stop, deadline)
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(feeder, 5)
        report = view.report()
    finally:
        print("stopping ...", flush=True)
        stop_all(running)
        if PIDFILE.exists():
            PIDFILE.unlink()
    (RUN_DIR / "report.md").write_text(report)
    print(f"report: {RUN_DIR / 'report.md'}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Reelstream stack locally.")
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("stop", help="end the processes of a detached or crashed run")
    parser.add_argument("--duration", type=float, default=0, help="seconds; 0 = until Ctrl-C")
    parser.add_argument(
        "--rate", type=float, default=500, help="events/s of the synthetic audience"
    )
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("KAFKA_PORT", 9092)))
    args = parser.parse_args()
    if args.cmd == "stop":
        n = stop_from_pidfile(PIDFILE)
        print(f"stopped {n} process(es)")
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
