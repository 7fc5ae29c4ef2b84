"""Shared fixtures: the real Kafka broker the suite starts itself, and per-test topics.

If ``KAFKA_BOOTSTRAP`` is set the suite uses that broker; otherwise it starts a
private single-node KRaft broker with ``deploy/kafka/kafka.sh`` on a free port
in a temporary directory, and stops it at the end. If the broker cannot be
started or reached, every test that needs it FAILS (never skips).
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelstream.platform.topics import TopicNames, ensure_topics

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


def free_port() -> int:
    """A TCP port nobody listens on right now (and its +1, for the controller)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


class LocalBroker:
    """A broker process run by kafka.sh: start, stop, restart on the same data."""

    def __init__(self, state_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.state_dir = state_dir
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _run(self, cmd: str) -> None:
        env = dict(
            os.environ,
            KAFKA_PORT=str(self.port),
            KAFKA_STATE_DIR=str(self.state_dir),
            KAFKA_HEAP="768m",
        )
        proc = subprocess.run([str(KAFKA_SH), cmd], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"kafka.sh {cmd} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real broker for the whole session."""
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        try:
            ensure_topics(given, prefix=f"probe-{uuid.uuid4().hex[:6]}-", timeout_s=15)
        except RuntimeError as exc:
            pytest.fail(f"KAFKA_BOOTSTRAP={given} is not a usable broker: {exc}")
        yield given
        return
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"))
    try:
        broker.start()
    except RuntimeError as exc:
        pytest.fail(f"could not start the test Kafka broker: {exc}")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topics(kafka_bootstrap: str) -> TopicNames:
    """Every declared topic, freshly created under a prefix unique to this test."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    ensure_topics(kafka_bootstrap, prefix)
    return TopicNames(prefix)


@pytest.fixture
def group_id() -> str:
    """A consumer group unique to this test."""
    return f"g-{uuid.uuid4().hex[:10]}"
