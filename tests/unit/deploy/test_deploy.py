"""Deployment files stay consistent: Prometheus config and rules pass promtool; compose and
the local stack agree on services and ports; every dashboard queries real metric names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.stack.__main__ import SERVICES

ROOT = Path(__file__).resolve().parents[3]
PROM = ROOT / "deploy" / "prometheus"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's prometheus package (.ci/run does)")
    return path


def test_promtool_check_config_and_rules() -> None:
    for args in (
        ["check", "config", str(PROM / "prometheus.yml")],
        ["check", "rules", str(PROM / "alerts.yml")],
    ):
        proc = subprocess.run([promtool(), *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_runs_every_service_with_a_healthcheck() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for spec in SERVICES:
        assert spec.name in compose, f"{spec.name} missing from docker-compose.yml"
        svc = compose[spec.name]
        assert "healthcheck" in svc, f"{spec.name} has no healthcheck"
        env = svc["environment"]
        assert env[f"{spec.name.upper()}_METRICS_PORT"] == str(spec.metrics_port)
        if spec.grpc_port is not None:
            assert env[f"{spec.name.upper()}_GRPC_PORT"] == str(spec.grpc_port)
    for infra in ("kafka", "prometheus", "grafana"):
        assert "healthcheck" in compose[infra]


def test_prometheus_scrapes_every_service_on_its_metrics_port() -> None:
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"][0] for job in config["scrape_configs"]
    }
    for spec in SERVICES:
        assert targets[spec.name] == f"{spec.name}:{spec.metrics_port}"


def test_dashboards_are_valid_and_use_known_metrics() -> None:
    assert len(DASHBOARDS) >= 4
    known = set()
    for path in (ROOT / "libs").rglob("*.py"):
        known |= set(re.findall(r'"((?:grpc_server|reelstream)_[a-z_]+)"', path.read_text()))
    for path in (ROOT / "services").rglob("*.py"):
        known |= set(re.findall(r'"((?:grpc_server|reelstream)_[a-z_]+)"', path.read_text()))
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        assert dash["uid"] and dash["panels"]
        for panel in dash["panels"]:
            for target in panel["targets"]:
                for name in re.findall(r"\b((?:grpc_server|reelstream)_[a-z_]+)", target["expr"]):
                    base = re.sub(r"_(bucket|sum|count)$", "", name)
                    assert name in known or base in known, (
                        f"{path.name}: {panel['title']}: unknown metric {name}"
                    )
