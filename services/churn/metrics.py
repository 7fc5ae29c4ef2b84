"""Churn metrics (Prometheus naming: base units, ``_total``, no user labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

AUC = Gauge(
    "reelstream_churn_auc", "Prequential rolling AUC of the serving model on settled labels."
)
LOG_LOSS = Gauge("reelstream_churn_log_loss", "Prequential log loss of the serving model.")
LABELS = Counter(
    "reelstream_churn_labels_total", "Delayed labels learned, by outcome.", ["outcome"]
)
RISK = Histogram(
    "reelstream_churn_risk",
    "Risk scored for each engagement snapshot.",
    buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
ACTIONS = Counter("reelstream_churn_actions_total", "Retention actions emitted, by kind.", ["kind"])
DEGRADED = Counter(
    "reelstream_churn_actions_degraded_total",
    "Actions sent without recommended titles (service down).",
)
FEATURE_LAG = Gauge(
    "reelstream_churn_feature_lag_seconds",
    "Wall time from a snapshot's emission by features to its scoring.",
)
USERS = Gauge("reelstream_churn_users", "Subscribers with a live risk.")
SNAPSHOTS = Counter("reelstream_churn_snapshots_total", "Engagement snapshots scored.")

for _kind in ("continue_watching", "new_recommendation", "quality_apology"):
    ACTIONS.labels(_kind)
for _outcome in ("churned", "stayed"):
    LABELS.labels(_outcome)
