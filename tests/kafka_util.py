"""Test helpers that read what really reached Kafka."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message

from reelstream.playback.v1 import events_pb2 as pb


def read_all(bootstrap: str, topic: str, expect: int, timeout_s: float = 30.0) -> list[Message]:
    """Read a topic from the beginning until ``expect`` records arrived (or time runs out).

    Keeps reading 1 s past ``expect`` so that extra records (duplicates) are seen too.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    reached: float | None = None
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.2):
                if msg.error() is None:
                    out.append(msg)
            if len(out) >= expect and reached is None:
                reached = time.monotonic()
            if reached is not None and time.monotonic() - reached > 1.0:
                break
    finally:
        consumer.close()
    return out


def event_of(msg: Message) -> pb.PlaybackEvent:
    """The playback event a record carries."""
    return pb.PlaybackEvent.FromString(msg.value() or b"")
