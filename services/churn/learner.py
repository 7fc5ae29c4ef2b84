"""The churn service's state: the online model, the retention policy and the action outbox.

``apply`` is the consume loop's handler. Engagement snapshots are scored (and queued
for their delayed label); a cancellation labels the user's pending snapshots; event
time moving forward settles expired horizons. An upward risk crossing produces a
retention action, which waits in the outbox (part of the snapshot) until the
publisher has written it to Kafka, so an action decided before a crash is sent after
the restart, and a replay re-creates the same action id (consumers de-duplicate).
"""

from __future__ import annotations

import time
from collections import deque

from confluent_kafka import Message

from reelstream.features.v1 import engagement_pb2
from reelstream.platform.consumer import BadRecord
from reelstream.subscription.v1 import events_pb2 as sub_pb
from services.churn import metrics
from services.churn.actions import Action, RetentionPolicy
from services.churn.labels import DelayedLabeler
from services.churn.model import ChurnModel

DAY_S = 86_400.0
ADVANCE_EVERY_S = 3600.0


class ChurnState:
    """Model + policy + outbox, snapshotted together with the Kafka offsets."""

    def __init__(
        self, threshold: float = 0.3, window_days: float = 7.0, horizon_days: float = 30.0
    ) -> None:
        self.model = ChurnModel(labeler=DelayedLabeler(horizon_s=horizon_days * DAY_S))
        self.policy = RetentionPolicy(threshold=threshold, window_s=window_days * DAY_S)
        self.outbox: deque[Action] = deque()
        self.watermark = 0.0
        self._advanced = 0.0
        self._labels_seen = (0, 0)

    def apply(self, msg: Message) -> None:
        """Learn from one engagement snapshot or subscription event."""
        if str(msg.topic()).endswith("subscription.v1"):
            self._subscription(msg.value())
        else:
            self._snapshot(msg.value())
        if self.watermark - self._advanced >= ADVANCE_EVERY_S:
            self.model.advance(self.watermark)
            self._advanced = self.watermark
            self._publish_metrics()

    def _snapshot(self, data: bytes | None) -> None:
        try:
            snap = engagement_pb2.EngagementSnapshot.FromString(data or b"")
        except Exception as exc:
            raise BadRecord(f"not an EngagementSnapshot: {exc}", code="UNDECODABLE") from exc
        if not snap.user_id or snap.snapshot_time_ms <= 0:
            raise BadRecord("snapshot without user_id or time", "user_id", "REQUIRED")
        t = snap.snapshot_time_ms / 1000
        self.watermark = max(self.watermark, t)
        user = snap.user_id
        risk = self.model.observe(user, t, dict(snap.features), snap.unfinished_title_id)
        metrics.SNAPSHOTS.inc()
        metrics.RISK.observe(risk)
        if snap.emitted_time_ms:
            metrics.FEATURE_LAG.set(max(0.0, time.time() - snap.emitted_time_ms / 1000))
        action = self.policy.observe(
            user, t, risk, lambda: self.model.explain(user), snap.unfinished_title_id
        )
        if action is not None:
            self.outbox.append(action)

    def _subscription(self, data: bytes | None) -> None:
        try:
            ev = sub_pb.SubscriptionEvent.FromString(data or b"")
        except Exception as exc:
            raise BadRecord(f"not a SubscriptionEvent: {exc}", code="UNDECODABLE") from exc
        t = ev.event_time_ms / 1000
        self.watermark = max(self.watermark, t)
        if ev.WhichOneof("kind") == "cancel":
            self.model.observe_cancel(ev.user_id, t)
            self.policy.forget(ev.user_id)

    def _publish_metrics(self) -> None:
        m = self.model.metrics().get(self.model.active, {})
        if m.get("labels", 0) > 0:
            metrics.AUC.set(m["auc"])
            metrics.LOG_LOSS.set(m["log_loss"])
        pos, total = self.model.n_positive, self.model.n_labels
        seen_pos, seen_total = self._labels_seen
        metrics.LABELS.labels("churned").inc(max(0, pos - seen_pos))
        metrics.LABELS.labels("stayed").inc(max(0, (total - pos) - (seen_total - seen_pos)))
        self._labels_seen = (pos, total)
        metrics.USERS.set(len(self.model))
