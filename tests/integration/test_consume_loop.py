"""The model services' consume loop over real Kafka: slices bound how long learning holds the loop."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Message, Producer

from reelstream.platform.consumer import BadRecord, ConsumeLoop, ConsumerOptions
from reelstream.platform.producer import producer_config
from reelstream.platform.topics import TopicNames

pytestmark = pytest.mark.integration


def test_a_burst_is_applied_in_slices_in_order_without_loss(
    kafka_bootstrap: str, topics: TopicNames, group_id: str
) -> None:
    # 60 records land at once (as a telemetry batch does); each costs the handler 1 ms.
    p = Producer(producer_config(kafka_bootstrap, "test-consume-loop", 10_000))
    for i in range(60):
        p.produce(topics.catalog, f"r{i}".encode(), b"k", partition=0)
    assert p.flush(15) == 0

    seen: list[str] = []
    bad: list[str] = []

    def handler(msg: Message) -> None:
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        value = (msg.value() or b"").decode()
        if value == "r13":
            raise BadRecord("thirteen", field="value")
        seen.append(value)

    loop = ConsumeLoop(
        ConsumerOptions(kafka_bootstrap, group_id, [topics.catalog], slice_ms=2.0),
        handler,
        dead_letter=lambda msg, exc: bad.append((msg.value() or b"").decode()),
    )
    try:
        slices: list[int] = []
        deadline = time.monotonic() + 60
        while len(seen) + len(bad) < 60 and time.monotonic() < deadline:
            n = loop.poll_once()
            if n:
                slices.append(n)
            else:
                time.sleep(0.01)
        # Every record once, in offset order; the bad one dead-lettered, not dropped silently.
        assert seen == [f"r{i}" for i in range(60) if i != 13]
        assert bad == ["r13"]
        assert loop.offsets()[(topics.catalog, 0)] == 60
        # A slice stops at the first record past its 2 ms: at most 3 records of 1 ms each
        # (wall-clock on both sides, so a loaded machine makes slices shorter, not longer).
        assert max(slices) <= 3, slices
        assert len(slices) >= 20, slices
    finally:
        loop.close()
