"""Features metrics (Prometheus naming: base units, ``_total``, no user labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "reelstream_features_events_total", "Events folded into engagement state.", ["kind"]
)
SNAPSHOTS = Counter(
    "reelstream_features_snapshots_total", "Engagement snapshots emitted.", ["reason"]
)
DROPPED = Counter(
    "reelstream_features_dropped_total",
    "Events not counted, by reason (late, duplicate).",
    ["reason"],
)
BAD = Counter("reelstream_features_bad_records_total", "Records sent to the dead-letter topic.")
WATERMARK = Gauge(
    "reelstream_features_watermark_seconds", "Newest event time seen (epoch seconds)."
)
LAG = Histogram(
    "reelstream_features_lag_seconds",
    "From telemetry's ingest stamp to the event being folded into state.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
USERS = Gauge("reelstream_features_users", "Users with engagement state on this worker.")
ASSIGNED = Gauge(
    "reelstream_features_assigned_partitions",
    "Playback partitions this worker owns after the last rebalance.",
)
RECOVERING = Gauge(
    "reelstream_features_recovering",
    "1 from a partition assignment until its tables are recovered.",
)
