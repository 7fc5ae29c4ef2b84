"""ABR metrics (Prometheus naming: base units, ``_total``, no session or user labels)."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram

from reelstream.platform.metrics import LATENCY_BUCKETS

DECISIONS = Counter(
    "reelstream_abr_decisions_total", "Bitrate decisions, by ladder rung.", ["rung"]
)
REASONS = Counter(
    "reelstream_abr_decision_reasons_total", "Bitrate decisions, by deciding term.", ["reason"]
)
DECISION_SECONDS = Histogram(
    "reelstream_abr_decision_seconds", "In-process time of one decision.", buckets=LATENCY_BUCKETS
)
REQUEST_SECONDS = Histogram(
    "reelstream_abr_request_seconds",
    "Server time of one SelectBitrate request, from the request in hand to the answer built "
    "(validation, learning the downloads it reports, planning), by transport: a stream's own "
    "gRPC handling time covers the whole playback session, so streams need this per message.",
    ["transport"],
    buckets=LATENCY_BUCKETS,
)
PREDICTION_ERROR = Histogram(
    "reelstream_abr_prediction_error_ratio",
    "|predicted - actual| / actual download time of the chunk a decision was made for.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
)
REBUFFER_SECONDS = Counter(
    "reelstream_abr_rebuffer_seconds_total", "Stall time reported by players."
)
PLAYED_SECONDS = Counter("reelstream_abr_played_seconds_total", "Media time downloaded by players.")
BITRATE = Histogram(
    "reelstream_abr_chunk_bitrate_kbps",
    "Bitrate of downloaded chunks.",
    buckets=(300, 750, 1200, 1850, 2850, 4300, 8000),
)
SESSION_QOE = Histogram(
    "reelstream_abr_session_qoe",
    "QoE_lin per chunk of ended sessions (bitrate Mbps - 4.3 rebuffer s - switch Mbps).",
    buckets=(-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.5),
)
ROLLING_QOE = Gauge("reelstream_abr_rolling_qoe", "Exponentially weighted QoE_lin per chunk.")
ACTIVE_SESSIONS = Gauge("reelstream_abr_active_sessions", "Sessions with state in the service.")
CHUNKS = Counter(
    "reelstream_abr_chunks_learned_total", "Chunk downloads the predictor learned from.", ["source"]
)


@functools.cache
def child(metric: Counter, value: str) -> Counter:
    """``metric.labels(value)``, looked up once: a decision counts three labelled series, and
    prometheus_client's ``labels()`` re-validates and locks on every call."""
    return metric.labels(value)
