"""The simulator's Prometheus metrics (base units, ``_total`` counters, no user ids in labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from reelstream.platform.metrics import LATENCY_BUCKETS

EVENTS_SENT = Counter(
    "reelstream_simulator_events_sent_total",
    "Playback and subscription events acknowledged by telemetry, by kind.",
    ["kind"],
)
EVENTS_REJECTED = Counter(
    "reelstream_simulator_events_rejected_total",
    "Events telemetry rejected, by reason code.",
    ["code"],
)
SESSIONS = Counter(
    "reelstream_simulator_sessions_started_total",
    "Playback sessions started, by recommendation arm.",
    ["rec_arm"],
)
VISITS = Counter(
    "reelstream_simulator_app_visits_total",
    "App opens (home-screen requests), by whether the viewer found something to play.",
    ["found"],
)
REBUFFER_SECONDS = Counter(
    "reelstream_simulator_rebuffer_seconds_total", "Stall time, by ABR arm.", ["abr_arm"]
)
WATCHED_SECONDS = Counter(
    "reelstream_simulator_watched_seconds_total",
    "Content seconds played, by experiment and arm.",
    ["experiment", "arm"],
)
CANCELLATIONS = Counter(
    "reelstream_simulator_cancellations_total", "Subscriptions cancelled, by rec arm.", ["rec_arm"]
)
SIGNUPS = Counter("reelstream_simulator_signups_total", "Subscriptions started.")
ACTIVE_VIEWERS = Gauge("reelstream_simulator_active_viewers", "Viewers in a playback session now.")
SUBSCRIBERS = Gauge("reelstream_simulator_subscribers", "Subscribers not cancelled.")
RPC_ERRORS = Counter(
    "reelstream_simulator_rpc_errors_total",
    "Failed RPCs, by service and status code.",
    ["service", "code"],
)
FALLBACKS = Counter(
    "reelstream_simulator_fallbacks_total",
    "Client-side fallbacks used instead of a service answer (default row, BBA).",
    ["service"],
)
RPC_SECONDS = Histogram(
    "reelstream_simulator_rpc_seconds",
    "Client-side RPC latency, by service and method.",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
SIM_LAG = Gauge(
    "reelstream_simulator_lag_seconds",
    "Simulated seconds the fleet is behind its clock (it cannot keep up with the speed).",
)
SIM_TIME = Gauge("reelstream_simulator_sim_time_seconds", "Simulated epoch time processed.")
BACKLOG = Gauge("reelstream_simulator_backlog_events", "Events not yet acknowledged by telemetry.")
