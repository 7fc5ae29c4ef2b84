"""faust's own topics of the features app, created before the worker joins its group."""

from __future__ import annotations

from pathlib import Path

from services.features.app import create_app, internal_topics
from services.features.settings import FeaturesSettings


def test_internal_topics_are_the_ones_faust_declares(tmp_path: Path) -> None:
    settings = FeaturesSettings(
        kafka_bootstrap="127.0.0.1:1", topic_prefix="p-", data_dir=tmp_path, metrics_port=0
    )
    app = create_app(settings)
    topics = {name: (partitions, config) for name, partitions, config in internal_topics(app)}
    # The same names and partition counts faust's tables and assignor use at start.
    for table in app.tables.values():
        ct = table.changelog_topic
        assert topics[ct.get_topic_name()] == (ct.partitions, {"cleanup.policy": "compact"})
    assert topics["p-reelstream-features-engagement-changelog"][0] == 6
    assert topics["p-reelstream-features-titles-changelog"][0] == 1
    assert topics["p-reelstream-features-__assignor-__leader"] == (1, {})
    assert len(topics) == len(app.tables) + 1
