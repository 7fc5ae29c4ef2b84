"""A real Prometheus (Debian's ``prometheus`` binary) for the local stack, its tests and benchmarks.

It scrapes the same jobs as ``deploy/prometheus/prometheus.yml`` (same alert rules), but on
``127.0.0.1`` ports instead of compose hostnames, with a 1-second scrape interval.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from services.stack.processes import ROOT

DEPLOY = ROOT / "deploy"


class PrometheusProcess:
    """Prometheus scraping ``jobs`` (name → metrics port) every second, data in ``work_dir``."""

    def __init__(self, jobs: dict[str, int], work_dir: Path, port: int) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus not found: install Debian's prometheus package")
        config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["scrape_configs"] = [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}"]}]}
            for job, p in jobs.items()
        ]
        work_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "prometheus" / "alerts.yml", work_dir / "alerts.yml")
        (work_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = port
        self._log = open(work_dir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={work_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"Prometheus did not become ready; see {work_dir / 'prometheus.log'}")

    def query(self, expr: str) -> list[Any]:
        """Instant query; the result vector (empty when nothing matches)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        if body["status"] != "success":
            raise RuntimeError(f"query failed: {expr}: {body}")
        return list(body["data"]["result"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self._log.close()


def dashboard_queries() -> list[tuple[str, str]]:
    """(dashboard: panel title, PromQL) for every target of every provisioned dashboard."""
    out = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            out += [(f"{path.stem}: {panel['title']}", t["expr"]) for t in panel["targets"]]
    return out


def alert_metrics() -> list[tuple[str, str]]:
    """(alert, metric) for every metric an alert rule reads (its full expression is empty while all is well)."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in sorted(
                set(re.findall(r"\b(up|grpc_server_[a-z_]+|reelstream_[a-z_]+)\b", rule["expr"]))
            ):
                out.append((rule["alert"], name))
    return out
