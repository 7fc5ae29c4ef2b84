"""The faust overrides: no stream record is dropped at the end of recovery, nor fetched unasked.

No broker: a real faust app and consumer whose two I/O points are stood in for, the committed
offsets the seek reads and the fetcher. The stand-in fetcher does what the real one did in the
lost-event runs: the moment a stream partition is active it hands a record to an agent's
channel queue (which faust clears when flow control resumes).
"""

from __future__ import annotations

from typing import Any

import faust
import pytest
from faust.tables.manager import TableManager
from faust.types import TP

from services.features.app import create_app
from services.features.faustfix import FAUST_VERSION, SeekFirstTableManager, SnapshotFetchConsumer
from services.features.settings import FeaturesSettings

STREAM = [TP("t-playback", 0), TP("t-playback", 1)]


class Run:
    """One end of recovery with stand-ins for the broker reads; records what the fetcher saw."""

    def __init__(self, manager: type[TableManager]) -> None:
        self.app = faust.App(
            "t-recovery",
            broker="kafka://127.0.0.1:1",  # never contacted
            store="memory://",
            web_enabled=False,
            TableManager=manager,
        )
        self.app.Table("engagement", default=None)
        self.changelog = TP("t-recovery-engagement-changelog", 0)
        consumer: Any = self.app.consumer
        self.consumer = consumer
        self.queue = self.app.channel().queue  # an agent's input queue, as faust builds it
        self.active_during_seek: set[TP] | None = None
        consumer.assignment = lambda: {*STREAM, self.changelog}
        consumer.seek_to_committed = self._seek_to_committed
        resume = consumer.resume_partitions

        def resume_and_fetch(tps: Any) -> None:
            resume(tps)
            for tp in sorted(set(tps) & set(STREAM)):
                self.queue.put_nowait((tp, 5))  # the fetcher delivers the committed offset

        consumer.resume_partitions = resume_and_fetch

        async def no_fetcher() -> bool:
            return False  # the real one would start fetching from the (absent) broker

        self.app._fetcher.maybe_start = no_fetcher  # type: ignore[method-assign]

    async def _seek_to_committed(self) -> dict[TP, int]:
        self.active_during_seek = {tp for tp in self.consumer._active_partitions if tp in STREAM}
        return {tp: 5 for tp in STREAM}

    async def end_recovery(self) -> list[tuple[TP, int]]:
        """Run ``on_recovery_completed``; return what the agent finds in its queue afterwards."""
        self.consumer.pause_partitions(STREAM)  # as the rebalance leaves them
        self.app.flow_control.suspend()
        tables: Any = self.app.tables
        await tables.recovery.on_recovery_completed(self.app.consumer_generation_id)
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


async def test_records_fetched_at_resume_reach_the_agent() -> None:
    run = Run(SeekFirstTableManager)
    delivered = await run.end_recovery()
    assert delivered == [(STREAM[0], 5), (STREAM[1], 5)]
    assert run.active_during_seek == set()  # nothing can be fetched while the seek runs
    assert set(STREAM) <= run.consumer._active_partitions
    assert run.changelog not in run.consumer._active_partitions
    assert run.app.flow_control.is_active()
    assert run.consumer._read_offset[STREAM[0]] == 5


async def test_stock_faust_still_drops_them() -> None:
    """If this fails, faust fixed the order: drop SeekFirstRecovery (and this test)."""
    assert faust.__version__ == FAUST_VERSION
    run = Run(TableManager)
    delivered = await run.end_recovery()
    assert run.active_during_seek == set(STREAM)
    assert delivered == []


def test_the_features_app_uses_it() -> None:
    app = create_app(FeaturesSettings())
    assert isinstance(app.tables, SeekFirstTableManager)


class WaitingThread:
    """Stands in for the consumer thread: holds the partition set it was asked for while
    recovery pauses the last active partitions, as aiokafka's ``fetched_records`` does."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.held: set[TP] = set()

    async def getmany(self, active_partitions: set[TP], timeout: float) -> dict[TP, list[Any]]:  # noqa: ASYNC109
        self.held = active_partitions
        self.consumer.pause_partitions(STREAM)  # "Done reading from changelog topics"
        return {}


@pytest.mark.parametrize("fixed", [True, False])
async def test_a_fetch_keeps_asking_for_the_partitions_it_asked_for(fixed: bool) -> None:
    if fixed:
        consumer: Any = create_app(FeaturesSettings()).consumer
        assert isinstance(consumer, SnapshotFetchConsumer)
    else:
        consumer = faust.App("t-stock", broker="kafka://127.0.0.1:1", web_enabled=False).consumer
    consumer.assignment = lambda: set(STREAM)
    consumer.resume_partitions(STREAM)
    thread = WaitingThread(consumer)
    consumer._thread = thread
    await consumer._wait_next_records(0.01)
    # aiokafka reads an empty set as "every assigned partition": stock faust's emptied under it
    assert thread.held == (set(STREAM) if fixed else set())
