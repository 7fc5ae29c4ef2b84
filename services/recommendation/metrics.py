"""Recommendation metrics (Prometheus naming: base units, ``_total``, no user labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from reelstream.platform.metrics import LATENCY_BUCKETS

UPDATE_SECONDS = Histogram(
    "reelstream_reco_update_seconds",
    "Time to apply one event to the model.",
    buckets=LATENCY_BUCKETS,
)
FEEDBACK = Counter("reelstream_reco_feedback_total", "Feedback events learned, by kind.", ["kind"])
FRESHNESS = Histogram(
    "reelstream_reco_freshness_seconds",
    "From telemetry's ingest stamp to the event being applied to the live model.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HIT_RATE = Gauge(
    "reelstream_reco_hit_rate",
    "Rolling share of plays whose title was among the user's last recommendations.",
)
USERS = Gauge("reelstream_reco_users", "Viewers held in memory.")
TITLES = Gauge("reelstream_reco_titles", "Titles in the model's catalogue.")
SERVED = Counter(
    "reelstream_reco_recommendations_total", "Recommendation lists served, by variant.", ["variant"]
)
COLD_START = Counter(
    "reelstream_reco_cold_start_total", "Lists served to viewers the model does not know."
)
