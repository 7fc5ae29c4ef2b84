"""faust table recovery that resumes the stream partitions only after their seek (faust 0.15.3).

The bug this closes (it lost an event at worker start, for good): faust-streaming 0.15.3's
``Recovery.on_recovery_completed`` ends the rebalance in this order

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
faust's own method, unchanged. Remove this override when faust's ``on_recovery_completed``
seeks before it resumes (``tests/unit/features/test_recovery.py`` fails then to say so).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery

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
