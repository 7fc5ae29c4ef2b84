"""Plumbing shared by the benchmarks: service processes, health waits, reports, JSON line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def repo_path(value: str) -> Path:
    """A path as given if absolute, else relative to the repository root (not the cwd)."""
    p = Path(value)
    return p if p.is_absolute() else (ROOT / p).resolve()


def progress(msg: str) -> None:
    """One progress line on stderr (stdout is kept for the result)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return float(ordered[idx])


class ServiceProcess:
    """A service run as its own process (``python -m services.<name>``), as in production."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def wait_serving(self, port: int, timeout_s: float = 60.0) -> None:
        """Block until the gRPC health check says SERVING (or fail with the log tail)."""
        deadline = time.monotonic() + timeout_s
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        tail = self.log_path.read_text()[-3000:]
        raise RuntimeError(f"{self.name} did not become SERVING:\n{tail}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, wait, then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def emit(result: dict[str, Any], report_name: str, report_md: str) -> None:
    """Write the markdown report and print the result as the last stdout line."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / report_name).write_text(report_md)
    progress(f"report written to {RESULTS / report_name}")
    print(json.dumps(result), flush=True)
