"""Every Kafka topic of the platform, declared once, and the tooling that creates them.

User-keyed topics share one partition count so that all per-user state is
partition-aligned (co-partitioned) across playback, subscription and the
features tables. Run ``python -m reelstream.platform.topics`` (``make topics``)
to create what is missing and check what exists.

>>> names = TopicNames("t1-")
>>> names.playback
't1-reelstream.playback.v1'
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

USER_PARTITIONS = 6
DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its base name, partitions and configuration, and what it carries."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        "reelstream.playback.v1",
        USER_PARTITIONS,
        {"retention.ms": str(7 * DAY_MS), "compression.type": "producer"},
        "PlaybackEvent, key user_id: everything players report",
    ),
    TopicSpec(
        "reelstream.subscription.v1",
        USER_PARTITIONS,
        {"retention.ms": str(365 * DAY_MS)},
        "SubscriptionEvent, key user_id: signup, plan change, cancel",
    ),
    TopicSpec(
        "reelstream.catalog.v1",
        1,
        {"cleanup.policy": "compact"},
        "Title, key title_id: the latest record per title",
    ),
    TopicSpec(
        "reelstream.engagement.v1",
        USER_PARTITIONS,
        {"retention.ms": str(60 * DAY_MS)},
        "EngagementSnapshot, key user_id: per-user windowed features",
    ),
    TopicSpec(
        "reelstream.features-ticks.v1",
        USER_PARTITIONS,
        {"retention.ms": str(DAY_MS)},
        "tick requests, key user_id: the features sweep asks each user's partition to tick",
    ),
    TopicSpec(
        "reelstream.retention-actions.v1",
        USER_PARTITIONS,
        {"retention.ms": str(90 * DAY_MS)},
        "RetentionAction, key user_id: what to send an at-risk subscriber",
    ),
    TopicSpec(
        "reelstream.dead-letters.v1",
        1,
        {"retention.ms": str(30 * DAY_MS)},
        "DeadLetter: records that could not be used, with the reason",
    ),
)


class TopicNames:
    """The concrete topic names for one deployment (a prefix isolates tests)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.playback = prefix + "reelstream.playback.v1"
        self.subscription = prefix + "reelstream.subscription.v1"
        self.catalog = prefix + "reelstream.catalog.v1"
        self.engagement = prefix + "reelstream.engagement.v1"
        self.features_ticks = prefix + "reelstream.features-ticks.v1"
        self.retention_actions = prefix + "reelstream.retention-actions.v1"
        self.dead_letters = prefix + "reelstream.dead-letters.v1"


def ensure_topics(bootstrap: str, prefix: str = "", timeout_s: float = 30.0) -> list[str]:
    """Create every declared topic that does not exist; return the names created.

    Raises RuntimeError if the broker cannot be reached or a topic exists with
    a different partition count (that would break per-user ordering).
    """
    return create_missing(
        bootstrap,
        [(prefix + spec.name, spec.partitions, spec.config) for spec in TOPICS],
        timeout_s,
    )


def create_missing(
    bootstrap: str, wanted: list[tuple[str, int, dict[str, str]]], timeout_s: float = 30.0
) -> list[str]:
    """Create each (name, partitions, config) topic that does not exist; return those created.

    Raises RuntimeError if the broker cannot be reached or a topic exists with another
    partition count.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except Exception as exc:  # KafkaException: broker unreachable
        raise RuntimeError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    created: list[str] = []
    new = []
    for name, partitions, config in wanted:
        if name in existing:
            have = len(existing[name].partitions)
            if have != partitions:
                raise RuntimeError(f"topic {name} has {have} partitions, declared {partitions}")
            continue
        new.append(NewTopic(name, partitions, 1, config=config))
    if new:
        futures = admin.create_topics(new, operation_timeout=timeout_s)
        for name, fut in futures.items():
            try:
                fut.result(timeout=timeout_s)
                created.append(name)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise RuntimeError(f"creating {name}: {exc}") from exc
    return created


def main(argv: list[str] | None = None) -> int:
    """Create the declared topics and print one line per topic."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--prefix", default="")
    args = parser.parse_args(argv)
    try:
        created = ensure_topics(args.bootstrap, args.prefix)
    except RuntimeError as exc:
        print(f"topics: {exc}", file=sys.stderr)
        return 1
    for spec in TOPICS:
        name = args.prefix + spec.name
        state = "created" if name in created else "exists "
        print(f"{state} {name:40s} partitions={spec.partitions:<3d} {spec.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
