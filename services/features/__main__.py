"""Features entry point: settings → faust app → worker (SIGTERM stops it and flushes tables)."""

from __future__ import annotations

import faust

from reelstream.platform import logs
from reelstream.platform.metrics import serve_metrics
from reelstream.platform.topics import create_missing
from services.features.app import create_app, internal_topics
from services.features.settings import FeaturesSettings


def main() -> None:
    """Run one faust worker of the features app."""
    settings = FeaturesSettings()
    logs.configure("features", settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # faust does not create it
    serve_metrics(settings.metrics_host, settings.metrics_port)
    app = create_app(settings)
    create_missing(settings.kafka_bootstrap, internal_topics(app))  # see internal_topics
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
