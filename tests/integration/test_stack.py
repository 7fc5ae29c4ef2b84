"""The whole stack end to end: every service as a process, the simulated audience, and a real
Prometheus that scrapes them all while every dashboard panel and alert rule is queried."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelstream.platform.topics import TopicNames
from services.stack.monitoring import PrometheusProcess, alert_metrics, dashboard_queries
from services.stack.processes import (
    Running,
    ServiceSpec,
    service_env,
    start_service,
    stop_all,
    wait_serving,
)
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def service_specs() -> list[ServiceSpec]:
    return [
        ServiceSpec("telemetry", free_port(), free_port()),
        ServiceSpec("recommendation", free_port(), free_port()),
        ServiceSpec("abr", free_port(), free_port()),
        ServiceSpec("features", None, free_port()),
        ServiceSpec("churn", free_port(), free_port()),
    ]


@pytest.fixture
def stack(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> Iterator[tuple[dict[str, ServiceSpec], PrometheusProcess]]:
    specs = {s.name: s for s in service_specs()}
    base = {"KAFKA_BOOTSTRAP": kafka_bootstrap, "REELSTREAM_TOPIC_PREFIX": topics.prefix}
    running: list[Running] = []
    prom: PrometheusProcess | None = None
    try:
        for spec in specs.values():
            env = service_env(
                spec,
                tmp_path / "state",
                churn_horizon_days=3,
                features_web_port=free_port(),
                recommendation_port=specs["recommendation"].grpc_port or 0,
            )
            r = start_service(spec, {**base, **env}, tmp_path)
            running.append(r)
            wait_serving(r)
        sim = ServiceSpec("simulator", None, free_port())
        specs["simulator"] = sim
        sim_env = {
            **base,
            "SIMULATOR_TELEMETRY_ADDR": f"127.0.0.1:{specs['telemetry'].grpc_port}",
            "SIMULATOR_RECOMMENDATION_ADDR": f"127.0.0.1:{specs['recommendation'].grpc_port}",
            "SIMULATOR_ABR_ADDR": f"127.0.0.1:{specs['abr'].grpc_port}",
            "SIMULATOR_USERS": "120",
            "SIMULATOR_TITLES": "300",
            "SIMULATOR_SPEED": "20000",
            "SIMULATOR_DURATION_S": "60",
            "SIMULATOR_METRICS_PORT": str(sim.metrics_port),
            "SIMULATOR_SUMMARY_PATH": str(tmp_path / "summary.json"),
        }
        running.append(start_service(sim, sim_env, tmp_path))
        if shutil.which("prometheus") is None:
            pytest.fail("prometheus not found: install Debian's prometheus package (.ci/run does)")
        jobs = {name: s.metrics_port for name, s in specs.items()}
        prom = PrometheusProcess(jobs, tmp_path / "prometheus", free_port())
        yield specs, prom
    finally:
        if prom is not None:
            prom.stop()
        stop_all(running)


def test_whole_stack_with_prometheus(
    stack: tuple[dict[str, ServiceSpec], PrometheusProcess], tmp_path: Path
) -> None:
    specs, prom = stack
    # Let the audience run: sessions, ABR decisions, plays, cancellations, snapshots, labels.
    deadline = time.monotonic() + 150
    queries = dashboard_queries()
    empty: list[str] = []
    while time.monotonic() < deadline:
        time.sleep(5)
        empty = [f"{title}: {expr}" for title, expr in queries if not prom.query(expr)]
        if not empty and time.monotonic() > deadline - 120:
            break
    assert not empty, "dashboard panels with no data:\n" + "\n".join(empty)
    missing = [
        f"{alert}: {name}"
        for alert, name in alert_metrics()
        if not prom.query(f'count({{__name__="{name}"}})')
    ]
    assert not missing, "alert rules reading metrics nobody exports:\n" + "\n".join(missing)

    # Every process was scraped, and data flowed through every service.
    ups = {r["metric"]["job"]: float(r["value"][1]) for r in prom.query("up")}
    assert ups == dict.fromkeys(specs, 1.0), ups

    def total(expr: str) -> float:
        return sum(float(r["value"][1]) for r in prom.query(expr))

    assert total("reelstream_telemetry_events_accepted_total") > 1000
    for job in ("recommendation", "abr", "churn"):
        assert total(f'reelstream_consumer_records_total{{job="{job}"}}') > 0, job
    assert total("reelstream_features_snapshots_total") > 0
    # Players hold one decision stream per playback session: count its decisions.
    assert total('grpc_server_started_total{job="abr",grpc_method="SelectBitrateStream"}') > 0
    assert total('reelstream_abr_request_seconds_count{job="abr",transport="stream"}') > 0
    assert (
        total(
            'grpc_server_handled_total{job="recommendation",grpc_method="HomeRows",grpc_code="OK"}'
        )
        > 0
    )
    assert total("reelstream_reco_hit_rate") > 0
