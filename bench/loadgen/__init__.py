"""The Go open-loop gRPC load generator (``bench/loadgen/main.go``), driven from Python.

The serving benchmarks measure the server; a Python client on this 2-core machine costs about
as much CPU per call as the server it measures, so the load comes from a small Go program
(built by ``build.sh`` from the same protos, on first use).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BINARY = HERE / "bin" / "loadgen"
REALTIME_PRIORITY = 10  # the same as the services' cpu_priority=realtime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_cpu_ticks() -> tuple[int, int]:
    """(stolen, total) CPU ticks of the whole machine so far, from ``/proc/stat``.

    Steal is time a virtual CPU was ready to run but the host ran something else: no priority
    inside the machine wins it back, so a latency run reports the share stolen while it ran.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    return fields[7], sum(fields[:8])


def ensure_built() -> Path:
    """Build the binary if it is missing or older than its sources or the protos."""
    sources = [HERE / "main.go", HERE / "build.sh", *(HERE.parents[1] / "proto").rglob("*.proto")]
    if not BINARY.exists() or max(p.stat().st_mtime for p in sources) > BINARY.stat().st_mtime:
        subprocess.run(
            [str(HERE / "build.sh")],
            check=True,
            stdout=sys.stderr,
            env={**os.environ, "PY": sys.executable},
        )
    return BINARY


def run(
    mode: str, addr: str, rate: float, seconds: float, *, realtime: bool = False, **flags: Any
) -> dict[str, Any]:
    """One open-loop run; returns the loadgen's JSON summary (raises if it failed).

    ``flags`` become ``-name value`` (``users_file`` -> ``-users``); progress goes to stderr.
    ``realtime`` runs the generator under SCHED_RR (players are other machines: their clock
    must not wait behind this machine's other work); it raises if that is not permitted.
    """
    args = [str(ensure_built()), "-mode", mode, "-addr", addr, "-rate", str(rate)]
    args += ["-seconds", str(seconds)]
    names = {"users_file": "users"}
    for key, value in flags.items():
        args += [f"-{names.get(key, key)}", str(value)]
    if realtime:
        chrt = shutil.which("chrt")
        if chrt is None:
            raise RuntimeError("realtime load needs chrt (util-linux)")
        args = [chrt, "--rr", str(REALTIME_PRIORITY), *args]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"loadgen {mode} printed nothing (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(lines[-1])
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen {mode} failed (exit {proc.returncode}): {result}")
    return result
