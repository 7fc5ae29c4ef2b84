"""Sends retention actions from the outbox: content from recommendation, then Kafka.

Runs beside the consume loop. For each action, in order: fill the content slot by
asking the recommendation service over gRPC (bounded by a timeout; if it is down
the action goes out with its generic message, marked degraded), write it durably
to the retention-actions topic keyed by user id, and only then remove it from the
outbox. A crash in between re-sends it after the restart with the same action id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from reelstream.churn.v1 import churn_pb2
from reelstream.platform.producer import DeliveryError, DurableProducer
from reelstream.recommendation.v1 import recommendation_pb2 as reco
from reelstream.recommendation.v1 import recommendation_pb2_grpc as reco_grpc
from services.churn import metrics
from services.churn.actions import Action, ActionKind
from services.churn.learner import ChurnState

log = logging.getLogger(__name__)

KINDS = {
    ActionKind.CONTINUE_WATCHING: churn_pb2.ACTION_KIND_CONTINUE_WATCHING,
    ActionKind.NEW_RECOMMENDATION: churn_pb2.ACTION_KIND_NEW_RECOMMENDATION,
    ActionKind.QUALITY_APOLOGY: churn_pb2.ACTION_KIND_QUALITY_APOLOGY,
}
MESSAGES = {
    ActionKind.NEW_RECOMMENDATION: "Something new picked for you.",
    ActionKind.QUALITY_APOLOGY: "Sorry about the playback trouble lately. We've tuned your streams.",
}


def to_record(action: Action, titles: tuple[str, ...], message: str) -> churn_pb2.RetentionAction:
    """The wire form of an action."""
    return churn_pb2.RetentionAction(
        action_id=action.action_id,
        user_id=action.user_id,
        time_ms=int(action.time * 1000),
        kind=KINDS[action.kind],
        title_ids=list(titles),
        message=message,
        reason=action.reason,
        risk=action.risk,
    )


class ActionPublisher:
    """Drains ``state().outbox`` in order; one action at a time, each durably written."""

    def __init__(
        self,
        state: Callable[[], ChurnState],
        producer: DurableProducer,
        topic: str,
        reco_addr: str,
        timeout_s: float = 0.3,
    ) -> None:
        self._state = state
        self.producer = producer
        self.topic = topic
        self.reco_addr = reco_addr
        self.timeout_s = timeout_s

    async def _content(
        self, stub: reco_grpc.RecommendationServiceStub, action: Action
    ) -> tuple[tuple[str, ...], str]:
        if action.title_ids or action.kind is ActionKind.CONTINUE_WATCHING:
            return action.title_ids, action.message
        try:
            resp = await stub.Recommend(
                reco.RecommendRequest(user_id=action.user_id, k=3), timeout=self.timeout_s
            )
            titles = tuple(t.title_id for t in resp.titles)
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "recommendation unavailable for a retention action", extra={"code": exc.code().name}
            )
            titles = ()
        if not titles:
            metrics.DEGRADED.inc()
            return (), action.message
        return titles, MESSAGES.get(action.kind, action.message)

    async def run(self, stop: asyncio.Event) -> None:
        async with grpc.aio.insecure_channel(self.reco_addr) as channel:
            stub = reco_grpc.RecommendationServiceStub(channel)
            while not stop.is_set():
                outbox = self._state().outbox
                if not outbox:
                    await asyncio.sleep(0.05)
                    continue
                action = outbox[0]
                titles, message = await self._content(stub, action)
                record = to_record(action, titles, message).SerializeToString()
                try:
                    await self.producer.send_batch(
                        self.topic, [(action.user_id.encode(), record)], 1
                    )
                except DeliveryError:
                    log.warning("retention action not written; retrying", exc_info=True)
                    await asyncio.sleep(1.0)
                    continue
                outbox.popleft()
                metrics.ACTIONS.labels(action.kind.value).inc()
