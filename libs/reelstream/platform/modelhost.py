"""The learning side of a model service: restore, consume, snapshot — model and offsets together.

A model service hands :class:`ModelHost` a factory for its learner (any picklable
object with ``apply(record)``) and the topics to learn from. The host:

1. loads the last snapshot, if any: the learner *and* the offsets it had applied;
2. consumes from exactly those offsets (partitions it has no offset for start at the
   group's committed offset, then the earliest record), applying each record with
   ``learner.apply(msg)``; a :class:`BadRecord` goes to the dead-letter topic with its
   reason and the loop moves on;
3. writes a snapshot every ``snapshot_interval_s`` and on shutdown, then commits the
   snapshot's offsets to Kafka (informational: the snapshot is the source of truth).

Because snapshots hold learner and offsets in one atomic file, a crash (even
``kill -9``) loses nothing and applies nothing twice: on restart the records after
the snapshot's offsets are applied once more to the snapshot's learner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from confluent_kafka import Message

from reelstream.common.v1 import types_pb2
from reelstream.platform.consumer import BadRecord, ConsumeLoop, ConsumerOptions
from reelstream.platform.producer import DurableProducer
from reelstream.platform.server import ServiceRuntime
from reelstream.platform.settings import ModelServiceSettings
from reelstream.platform.snapshot import SnapshotStore
from reelstream.platform.topics import TopicNames

log = logging.getLogger(__name__)


class Learner(Protocol):
    """What a model service's state must offer the host."""

    def apply(self, msg: Message) -> None:
        """Learn from one Kafka record; raise BadRecord if it cannot be used."""


L = TypeVar("L", bound=Learner)


class ModelHost(Generic[L]):
    """Owns the learner, its consume loop and its snapshots."""

    def __init__(
        self,
        settings: ModelServiceSettings,
        name: str,
        topics: list[str],
        factory: Callable[[], L],
    ) -> None:
        self.settings = settings
        self.name = name
        self.names = TopicNames(settings.topic_prefix)
        self.store = SnapshotStore(settings.snapshot_dir, f"{settings.topic_prefix}{name}")
        snap = self.store.load()
        if snap is not None:
            self.learner: L = snap.state
            start = snap.offsets
            log.info("restored snapshot", extra={"offsets": len(start), **snap.meta})
        else:
            self.learner = factory()
            start = {}
        self.dlq = DurableProducer(settings.kafka_bootstrap, f"{name}-dlq")
        self.loop = ConsumeLoop(
            ConsumerOptions(
                bootstrap=settings.kafka_bootstrap,
                group_id=settings.consumer_group or f"{settings.topic_prefix}{name}",
                topics=topics,
                max_records=settings.max_poll_records,
                slice_ms=settings.apply_slice_ms,
            ),
            self._apply,
            start_offsets=start,
            dead_letter=self._dead_letter,
        )
        self.snapshots_written = 0

    def _apply(self, msg: Message) -> None:
        self.learner.apply(msg)

    def _dead_letter(self, msg: Message, bad: BadRecord) -> None:
        record = types_pb2.DeadLetter(
            service=self.name,
            source_topic=str(msg.topic()),
            source_partition=int(msg.partition() or 0),
            source_offset=int(msg.offset() or 0),
            payload=msg.value() or b"",
            field=bad.field,
            code=bad.code,
            reason=bad.reason,
            time_ms=int(time.time() * 1000),
        )
        self.dlq.produce_nowait(self.names.dead_letters, msg.key(), record.SerializeToString())

    def snapshot(self) -> int:
        """Write learner + offsets now (on the event loop: nothing applies meanwhile)."""
        offsets = self.loop.offsets()
        size = self.store.save(self.learner, offsets, service=self.name)
        self.loop.commit(offsets)
        self.snapshots_written += 1
        return size

    async def _snapshot_every(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.settings.snapshot_interval_s)
            except TimeoutError:
                self.snapshot()

    async def _serving_when_assigned(self, runtime: ServiceRuntime) -> None:
        await self.loop.ready.wait()
        await runtime.set_serving(True)

    def attach(self, runtime: ServiceRuntime) -> None:
        """Run the loop and the snapshots with the runtime; snapshot again on shutdown."""
        stop = runtime.stop_event
        runtime.spawn(self.loop.run(stop), f"{self.name}-consume")
        runtime.spawn(self._snapshot_every(stop), f"{self.name}-snapshots")
        runtime.spawn(self._serving_when_assigned(runtime), f"{self.name}-ready")

        def final() -> None:
            size = self.snapshot()
            log.info("final snapshot", extra={"bytes": size})
            self.loop.close()
            self.dlq.close(5)

        runtime.on_shutdown(final)


async def serve_model_service(
    settings: ModelServiceSettings,
    name: str,
    topics: list[str],
    factory: Callable[[], L],
    service: tuple[str, Callable[[Any, Any], None], Callable[[Callable[[], L]], Any]],
) -> tuple[ServiceRuntime, ModelHost[L]]:
    """Wire a model service: host (snapshot + consume) → servicer → gRPC runtime, started.

    ``service`` is (full service name, ``add_XServicer_to_server``, a servicer factory
    that takes a getter of the live learner). Health turns SERVING once the snapshot is
    loaded and partitions are assigned.
    """
    host = ModelHost(settings, name, topics, factory)
    runtime = ServiceRuntime(
        name, settings.grpc_host, settings.grpc_port, grace_s=settings.shutdown_grace_s
    )
    full_name, add_fn, make_servicer = service
    runtime.add_service(full_name, add_fn, make_servicer(lambda: host.learner))
    await runtime.start()
    host.attach(runtime)
    return runtime, host
