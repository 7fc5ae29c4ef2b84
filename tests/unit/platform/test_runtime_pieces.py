"""Snapshot atomicity, settings from the environment, topics, producer config, CPU priority."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from reelstream.platform.producer import producer_config
from reelstream.platform.server import set_cpu_priority
from reelstream.platform.settings import ModelServiceSettings, ServiceSettings
from reelstream.platform.snapshot import SnapshotStore
from reelstream.platform.topics import TOPICS, USER_PARTITIONS, TopicNames


def test_snapshot_round_trip_and_overwrite(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, "svc")
    assert store.load() is None
    store.save({"v": 1}, {("a", 0): 5})
    store.save({"v": 2}, {("a", 0): 9, ("a", 1): 3}, note="second")
    snap = store.load()
    assert snap is not None
    assert snap.state == {"v": 2}
    assert snap.offsets == {("a", 0): 9, ("a", 1): 3}
    assert snap.meta["note"] == "second"


def test_snapshot_survives_a_crash_mid_write(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, "svc")
    store.save({"v": 1}, {("a", 0): 5})
    # A crash during a write leaves a partial temp file; the last good snapshot still loads.
    (tmp_path / "svc.tmp-12345").write_bytes(b"\x80\x05partial")
    snap = store.load()
    assert snap is not None and snap.state == {"v": 1}


def test_snapshot_of_an_incompatible_version_fails_clearly(tmp_path: Path) -> None:
    from reelstream.platform.snapshot import SnapshotIncompatible

    store = SnapshotStore(tmp_path, "svc")
    # A pickle naming a module that no longer exists, as after a refactoring of the model.
    store.path.write_bytes(
        b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x08gone_mod\x94\x8c\x04Gone\x94\x93\x94."
    )
    with pytest.raises(SnapshotIncompatible, match="incompatible version"):
        store.load()


def test_snapshot_rejects_unknown_format(tmp_path: Path) -> None:
    import pickle

    store = SnapshotStore(tmp_path, "svc")
    store.path.write_bytes(pickle.dumps({"version": 99}))
    with pytest.raises(ValueError, match="format 99"):
        store.load()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "broker:1234")
    monkeypatch.setenv("REELSTREAM_TOPIC_PREFIX", "x-")
    s = ServiceSettings()
    assert (s.kafka_bootstrap, s.topic_prefix) == ("broker:1234", "x-")
    with pytest.raises(ValueError):
        ServiceSettings(grpc_port=70000)
    with pytest.raises(ValueError):
        ModelServiceSettings(snapshot_interval_s=0)
    assert "KAFKA_BOOTSTRAP" in os.environ


def test_user_keyed_topics_are_co_partitioned() -> None:
    names = TopicNames("p-")
    by_name = {t.name: t for t in TOPICS}
    for topic in (
        "reelstream.playback.v1",
        "reelstream.subscription.v1",
        "reelstream.engagement.v1",
    ):
        assert by_name[topic].partitions == USER_PARTITIONS
    assert names.playback == "p-reelstream.playback.v1"
    assert by_name["reelstream.catalog.v1"].config["cleanup.policy"] == "compact"


def test_producer_is_durable_and_java_compatible() -> None:
    conf = producer_config("b:1", "c", 5000)
    assert conf["enable.idempotence"] is True
    assert conf["acks"] == "all"
    assert conf["partitioner"] == "murmur2_random"
    assert conf["message.timeout.ms"] == 5000


def test_realtime_priority_applies_to_the_calling_thread_only() -> None:
    seen: dict[str, object] = {}

    def worker() -> None:
        seen["applied"] = set_cpu_priority("realtime")
        seen["policy"] = os.sched_getscheduler(0)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    # Applied (CAP_SYS_NICE, as in CI and the bench) or refused with a warning: never half-done.
    assert seen["policy"] == (os.SCHED_RR if seen["applied"] else os.SCHED_OTHER)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the test's own thread is untouched
    with pytest.raises(ValueError, match="cpu_priority"):
        set_cpu_priority("urgent")
