"""Read the services' ``/metrics`` and turn counters and histograms into rates and quantiles."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


@dataclass
class Scrape:
    """One scrape of one endpoint: sample name -> labels -> value."""

    at: float
    samples: dict[str, dict[Labels, float]] = field(default_factory=lambda: defaultdict(dict))

    def total(self, name: str, **match: str) -> float:
        """Sum of a sample over the series whose labels include ``match``."""
        return sum(
            v
            for labels, v in self.samples.get(name, {}).items()
            if all((k, val) in labels for k, val in match.items())
        )

    def series(self, name: str) -> dict[Labels, float]:
        return dict(self.samples.get(name, {}))


def scrape(port: int, at: float, timeout_s: float = 1.0) -> Scrape | None:
    """Fetch and parse ``http://127.0.0.1:port/metrics``; None if the endpoint is down."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = Scrape(at)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.samples[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def rate(new: Scrape, old: Scrape | None, name: str, **match: str) -> float:
    """Per-second increase of a counter between two scrapes."""
    if old is None or new.at <= old.at:
        return 0.0
    return max(0.0, new.total(name, **match) - old.total(name, **match)) / (new.at - old.at)


def quantile(new: Scrape, old: Scrape | None, name: str, q: float, **match: str) -> float | None:
    """Histogram quantile over the interval between two scrapes (like PromQL's)."""
    buckets: dict[float, float] = defaultdict(float)
    for labels, v in new.samples.get(f"{name}_bucket", {}).items():
        d = dict(labels)
        if not all(d.get(k) == val for k, val in match.items()):
            continue
        prev = old.samples.get(f"{name}_bucket", {}).get(labels, 0.0) if old else 0.0
        buckets[float(d["le"])] += v - prev
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    target = q * total
    lower, lower_count = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= target:
            if b == float("inf"):
                return lower
            span = buckets[b] - lower_count
            return lower + (b - lower) * ((target - lower_count) / span if span else 0.0)
        lower, lower_count = b, buckets[b]
    return bounds[-1]
