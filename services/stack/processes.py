"""Start, watch and stop the local stack's processes (Kafka via kafka.sh, services via python -m)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the stack: module, ports, and its own environment."""

    name: str
    grpc_port: int | None
    metrics_port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    def exists(self) -> bool:
        return (ROOT / "services" / self.name / "__main__.py").exists()


@dataclass
class Running:
    """A started process and where its output goes."""

    spec: ServiceSpec
    proc: subprocess.Popen[bytes]
    log: Path


def service_env(
    spec: ServiceSpec,
    state_dir: Path,
    *,
    recommendation_port: int,
    churn_horizon_days: float = 7.0,
    log_level: str = "INFO",
    features_web_port: int = 6066,
) -> dict[str, str]:
    """One service's environment: its ports, where its state lives, how churn finds recommendation.

    The local stack, its end-to-end test and bench-e2e run the same services this way. The
    simulated span is at most 29 days (telemetry's 30-day bound on event age), so local runs
    label churn over a short horizon; production keeps the 30-day default.
    """
    prefix = spec.name.upper()
    env = {
        f"{prefix}_METRICS_PORT": str(spec.metrics_port),
        f"{prefix}_SNAPSHOT_DIR": str(state_dir),
        f"{prefix}_LOG_LEVEL": log_level,
        "FEATURES_DATA_DIR": str(state_dir / "features"),
        "FEATURES_WEB_PORT": str(features_web_port),
        "CHURN_HORIZON_DAYS": f"{churn_horizon_days:g}",
        "CHURN_RECOMMENDATION_ADDR": f"127.0.0.1:{recommendation_port}",
    }
    if spec.grpc_port is not None:
        env[f"{prefix}_GRPC_PORT"] = str(spec.grpc_port)
    return env


def start_kafka(port: int) -> None:
    """Start (or reuse) the local broker on ``port``; raise with its log if it fails."""
    env = dict(os.environ, KAFKA_PORT=str(port))
    proc = subprocess.run([str(KAFKA_SH), "start"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Kafka did not start:\n{proc.stderr[-2000:]}")


def start_service(
    spec: ServiceSpec, base_env: dict[str, str], run_dir: Path, niceness: int = 0
) -> Running:
    """Launch ``python -m services.<name>`` with its log in ``run_dir``.

    ``niceness`` > 0 lowers the process's CPU priority (a load generator sharing the machine
    with the services it measures should not take their CPU).
    """
    log = run_dir / f"{spec.name}.log"
    env = {**os.environ, **base_env, **spec.env}
    prefix = ["nice", "-n", str(niceness)] if niceness else []
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", spec.module],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,  # Ctrl-C goes to the supervisor, which stops children in order
        )
    return Running(spec, proc, log)


def wait_serving(running: Running, timeout_s: float = 90.0) -> None:
    """Wait for gRPC health SERVING (or, without gRPC, for /metrics to answer); raise with the
    log tail if the process dies or times out."""
    deadline = time.monotonic() + timeout_s
    if running.spec.grpc_port is None:
        while time.monotonic() < deadline and running.proc.poll() is None:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{running.spec.metrics_port}/metrics", timeout=1
                )
                time.sleep(1.0)  # still alive a moment after binding (faust fails after start-up)
                if running.proc.poll() is None:
                    return
            except OSError:
                time.sleep(0.3)
        tail = running.log.read_text(errors="replace")[-2500:]
        raise RuntimeError(f"{running.spec.name} did not come up; its log ends:\n{tail}")
    with grpc.insecure_channel(f"127.0.0.1:{running.spec.grpc_port}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            if running.proc.poll() is not None:
                break
            try:
                if (
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    tail = running.log.read_text(errors="replace")[-2500:]
    raise RuntimeError(f"{running.spec.name} did not become SERVING; its log ends:\n{tail}")


def stop_all(running: list[Running], timeout_s: float = 20.0) -> None:
    """SIGTERM in reverse start order (clients first, Kafka users last), then SIGKILL stragglers."""
    for r in reversed(running):
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for r in reversed(running):
        try:
            r.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            r.proc.kill()
            r.proc.wait()


def write_pids(path: Path, running: list[Running]) -> None:
    """Record pids so ``make stop`` can end a detached or orphaned run."""
    path.write_text("".join(f"{r.proc.pid} {r.spec.name}\n" for r in running))


def stop_from_pidfile(path: Path) -> int:
    """End the processes a previous run recorded; return how many were still alive."""
    if not path.exists():
        return 0
    alive = 0
    for line in path.read_text().splitlines():
        pid = int(line.split()[0])
        try:
            os.kill(pid, signal.SIGTERM)
            alive += 1
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 20
    for line in path.read_text().splitlines():
        pid = int(line.split()[0])
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    path.unlink()
    return alive
