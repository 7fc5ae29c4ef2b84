"""Two overrides of faust 0.15.3 that lost stream records at worker start or rebalance.

1. ``SeekFirstRecovery``: the end of table recovery resumes the stream partitions only after
their seek. The bug this closes (it lost events at worker start, for good): faust-streaming
0.15.3's ``Recovery.on_recovery_completed`` ends every rebalance in this order

    1. ``consumer.resume_partitions(stream partitions)``  the fetcher, already running for the
       changelogs, now hands stream records to the agents' channel queues;
    2. ``await consumer.perform_seek()``                  ~0.1-0.3 s in the consumer thread;
       meanwhile records of step 1 are delivered and the consumer's read offsets move on; at
       its end the read offsets are set back to the committed offsets;
    3. ``app.flow_control.resume()``                      which CLEARS every channel queue
       (``clear_on_resume=True``): the records delivered in step 2 and not yet taken by the
       agent are dropped without an ack.

The dropped records never come back: the rest of the batch fetched before the seek is still
delivered after it, and since the read offset was set back to the committed one, the next
record looks like it follows a hole (``offset - read_offset > 1``), so ``_add_gap`` marks the
dropped offsets as committable; the records re-fetched from the seek position are then
discarded as already read (``DROPPED MESSAGE ROFF``); the commit passes them.

Here the steps run as: seek (stream partitions still paused, so no stream record can be in
flight), resume flow control (clears queues that hold no stream record), and only then resume
the stream partitions: the first stream record delivered is the committed offset, every record
after it is delivered once, and nothing sits in a queue when it is cleared. Everything else is
faust's own method, unchanged.

2. ``SnapshotFetchConsumer``: the fetcher hands aiokafka a copy of the active partitions, not
faust's live set. aiokafka's ``fetched_records(partitions)`` treats an EMPTY set as "every
assigned partition"; faust passes its live set to the consumer thread, and while a fetch waits
there, recovery may pause the last active partitions (the changelogs, at "Done reading from
changelog topics"): the set empties, aiokafka returns (and moves its position past) records of
the still paused stream partitions, and faust's filter drops them. With override 1 alone the
seek may already be done by then, so nothing fetches them again: seen as whole partitions
stuck after a restart (2 of 9 restarts), and the gap check above would commit past them once
a later record arrives. A copy cannot empty under aiokafka's feet.

Remove these overrides when faust seeks before it resumes and snapshots the partitions it
fetches (``tests/unit/features/test_faustfix.py`` fails on a faust upgrade to say so).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.transports import ConsumerT

FAUST_VERSION = "0.15.3"  # the faust release whose on_recovery_completed this replaces


class SeekFirstRecovery(Recovery):
    """``Recovery`` whose end of rebalance seeks the stream partitions before resuming them."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Call when active table recovery is completed (faust's, with the resume moved last)."""
        app: Any = self.app
        consumer = app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if app.consumer_generation_id != generation_id:
            self.log.warning(
                f"Recovery rebalancing again app id {app.consumer_generation_id} "
                f"param {generation_id}"
            )
            return
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
        self.completed.set()
        app.flow_control.resume()  # clears the channel queues: none holds a stream record yet
        consumer.resume_flow()
        self.log.info("Resume stream partitions")
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


class SeekFirstTableManager(TableManager):
    """The table manager of the features app: faust's, recovering with ``SeekFirstRecovery``."""

    @property
    def recovery(self) -> Recovery:
        """Recovery service used by this table manager."""
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class SnapshotFetchConsumer(aiokafka_driver.Consumer):
    """faust's aiokafka consumer, asking aiokafka for a copy of the active partitions."""

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:  # noqa: ASYNC109 - faust signature
        # faust calls this only with a non-empty set (or None for client-only apps); the copy
        # keeps it non-empty while the consumer thread waits on it.
        snapshot = None if active_partitions is None else set(active_partitions)
        return await super()._getmany(snapshot, timeout)


class FeaturesApp(faust.App):
    """The features app's faust App: its consumer is a ``SnapshotFetchConsumer``."""

    def _new_consumer(self) -> ConsumerT:
        return SnapshotFetchConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.loop,
        )
