"""The faust features app over real Kafka: builds features, recovers tables, survives a rebalance."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from reelstream.features.v1 import engagement_pb2
from reelstream.platform.producer import producer_config
from reelstream.platform.topics import TopicNames
from reelstream.playback.v1 import events_pb2 as pb
from services.features.engagement import EngagementTracker
from services.features.mapping import playback_event
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


class Worker:
    """One `python -m services.features` process."""

    def __init__(self, bootstrap: str, topics: TopicNames, data_dir: Path, log: Path) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": bootstrap,
            "REELSTREAM_TOPIC_PREFIX": topics.prefix,
            "FEATURES_DATA_DIR": str(data_dir),
            "FEATURES_METRICS_PORT": str(free_port()),
            "FEATURES_WEB_PORT": str(free_port()),
            "FEATURES_TICK_INTERVAL_S": "1",
            "FEATURES_EMIT_INTERVAL_HOURS": "0",
            "FEATURES_LOG_LEVEL": "INFO",
        }
        self.log = log
        self.metrics_port = int(env["FEATURES_METRICS_PORT"])
        self._log_fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.features"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._log_fh,
        )

    def gauge(self, name: str) -> float | None:
        """A gauge from the worker's /metrics (None while it does not answer)."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1
            ) as r:
                text = r.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def tail(self) -> str:
        return f"--- {self.log.name} ---\n" + "\n".join(
            self.log.read_text(errors="replace").splitlines()[-15:]
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_fh.close()


def settled(workers: list[Worker], timeout_s: float = 120.0) -> None:
    """Wait until the workers own all six playback partitions between them and none is recovering."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owned = [w.gauge("reelstream_features_assigned_partitions") for w in workers]
        busy = [w.gauge("reelstream_features_recovering") for w in workers]
        if (
            None not in owned
            and sum(o or 0 for o in owned) == 6
            and all((o or 0) > 0 for o in owned)
            and all(b == 0 for b in busy)
        ):
            return
        time.sleep(0.5)
    raise AssertionError("rebalance did not settle:\n" + "\n".join(w.tail() for w in workers))


def sessions(users: list[str], day: int, base_ms: int, tag: str) -> list[pb.PlaybackEvent]:
    return [
        pb.PlaybackEvent(
            event_id=f"{tag}-{u}-{day}",
            user_id=u,
            session_id=f"s-{u}-{day}",
            title_id="t1",
            event_time_ms=base_ms + day * DAY_MS + 3_600_000,
            session_start=pb.SessionStart(),
        )
        for u in users
    ]


def produce(bootstrap: str, topic: str, events: list[pb.PlaybackEvent]) -> None:
    p = Producer(producer_config(bootstrap, "test-features", 10_000))
    for e in events:
        p.produce(topic, e.SerializeToString(), e.user_id.encode())
    assert p.flush(15) == 0


class Snapshots:
    """Reads the engagement topic; compares each user's newest change snapshot with what the
    pure tracker computes in-process from the same events (so the app must apply each event
    exactly once, in event time, whatever restarts and rebalances happen in between)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"snap-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
            }
        )
        self.c.subscribe([topic])
        self.latest: dict[str, engagement_pb2.EngagementSnapshot] = {}
        self.sent: dict[str, list[pb.PlaybackEvent]] = {}

    def record(self, events: list[pb.PlaybackEvent]) -> list[pb.PlaybackEvent]:
        for e in events:
            self.sent.setdefault(e.user_id, []).append(e)
        return events

    def expected(self) -> dict[str, tuple[int, float]]:
        tracker = EngagementTracker(emit_interval_s=0.0)
        out = {}
        for user, events in self.sent.items():
            st = tracker.new_state(user)
            for e in events:
                ev = playback_event(e, lambda _title: ())
                assert ev is not None
                tracker.apply(st, ev)
            assert st.max_time is not None
            out[user] = (int(st.max_time * 1000), tracker.features(st, st.max_time)["sessions_28d"])
        return out

    def wait(self, timeout_s: float = 120.0, workers: list[Worker] | None = None) -> None:
        want = self.expected()
        deadline = time.monotonic() + timeout_s
        got: dict[str, tuple[int, float]] = {}
        while time.monotonic() < deadline:
            for m in self.c.consume(500, timeout=0.5):
                if m.error() is None:
                    s = engagement_pb2.EngagementSnapshot.FromString(m.value() or b"")
                    if s.reason == "change":
                        self.latest[s.user_id] = s
            got = {
                u: (s.snapshot_time_ms, s.features["sessions_28d"]) for u, s in self.latest.items()
            }
            if all(got.get(u) == pytest.approx(w) for u, w in want.items()):
                return
        missing = {u: (w, got.get(u)) for u, w in want.items() if got.get(u) != pytest.approx(w)}
        logs = "\n".join(w.tail() for w in workers or [])
        raise AssertionError(
            f"{len(missing)} users off (want, got): {list(missing.items())[:4]}\n{logs}"
        )

    def close(self) -> None:
        self.c.close()


def test_features_build_and_recover_after_restart(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    users = [f"user-{i}" for i in range(12)]
    base = int(time.time() * 1000) - 10 * DAY_MS
    snaps = Snapshots(kafka_bootstrap, topics.engagement)
    send = snaps.record
    worker = Worker(kafka_bootstrap, topics, tmp_path / "a", tmp_path / "a.log")
    try:
        produce(
            kafka_bootstrap,
            topics.playback,
            send(sessions(users, 1, base, "x") + sessions(users, 2, base, "x")),
        )
        snaps.wait()
        # A duplicate (same event id) must not count again: it is not recorded as sent.
        produce(kafka_bootstrap, topics.playback, sessions(users[:1], 2, base, "x"))
        worker.stop()

        # Restart on the same disk: rocksdb state is back at once; counting continues.
        worker = Worker(kafka_bootstrap, topics, tmp_path / "a", tmp_path / "a.log")
        produce(kafka_bootstrap, topics.playback, send(sessions(users, 3, base, "x")))
        snaps.wait()
        worker.stop()

        # Restart on an empty disk: the table is rebuilt from its changelog topic.
        worker = Worker(kafka_bootstrap, topics, tmp_path / "b", tmp_path / "b.log")
        produce(kafka_bootstrap, topics.playback, send(sessions(users, 4, base, "x")))
        snaps.wait()
    finally:
        worker.stop()
        snaps.close()


def test_rebalance_two_workers_one_stopped(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    """Scale out to two workers, then stop one: each handover must carry the table state."""
    users = [f"viewer-{i}" for i in range(40)]  # spread over all six partitions
    base = int(time.time() * 1000) - 10 * DAY_MS
    snaps = Snapshots(kafka_bootstrap, topics.engagement)
    send = snaps.record
    a = Worker(kafka_bootstrap, topics, tmp_path / "a", tmp_path / "a.log")
    b: Worker | None = None
    try:
        settled([a])
        produce(kafka_bootstrap, topics.playback, send(sessions(users, 1, base, "r")))
        snaps.wait(workers=[a])  # a owns every partition
        b = Worker(kafka_bootstrap, topics, tmp_path / "b", tmp_path / "b.log")
        settled([a, b])  # half the partitions, and their table state, moved to b
        produce(kafka_bootstrap, topics.playback, send(sessions(users, 2, base, "r")))
        snaps.wait(workers=[a, b])
        b.stop()  # its partitions move back to a, which recovers b's writes from the changelog
        settled([a])
        produce(kafka_bootstrap, topics.playback, send(sessions(users, 3, base, "r")))
        snaps.wait(workers=[a])
    finally:
        a.stop()
        if b is not None:
            b.stop()
        snaps.close()
