"""The content-management role: publishes ``catalog.v1.Title`` records, keyed by title id.

Titles already released go out before the fleet starts; each day the ones
released that day follow. A failed publish (Kafka down) is kept and retried
with the next one; it never stops the simulation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from reelstream.platform.producer import DeliveryError, DurableProducer
from services.simulator.catalog import Catalog

log = logging.getLogger(__name__)


class CatalogPublisher:
    """Durable, idempotent publishing of title records to the (compacted) catalog topic."""

    def __init__(self, producer: DurableProducer, topic: str, catalog: Catalog) -> None:
        self.producer = producer
        self.topic = topic
        self.catalog = catalog
        self.pending: list[int] = []
        self.published = 0
        self.failures = 0
        self._busy = False

    async def publish(self, rows: Iterable[int] | np.ndarray) -> int:
        """Publish ``rows`` (and anything that failed before); return how many went out now."""
        self.pending.extend(int(r) for r in rows)
        if not self.pending:
            return 0
        if self._busy:  # one publish at a time; the running one picks these up next time
            return 0
        self._busy = True
        batch, self.pending = self.pending, []
        cat = self.catalog
        records = [(cat.ids[r].encode(), cat.to_proto(r).SerializeToString()) for r in batch]
        try:
            await self.producer.send_batch(self.topic, records, len(records))
        except DeliveryError as exc:
            self.failures += 1
            self.pending = batch + self.pending
            log.warning("catalog publish failed; will retry", extra={"error": str(exc)})
            return 0
        except BaseException:
            self.pending = batch + self.pending  # cancelled at shutdown: still unpublished
            raise
        finally:
            self._busy = False
        self.published += len(batch)
        return len(batch)
