"""Simulated subscribers: hidden tastes, devices, regions, networks and daily routines.

A viewer's taste for a title is a genre-affinity term plus a latent-factor dot
product plus the title's hidden quality. The genre part is learnable from the
catalogue's genres, the latent part only from who watched what together, so a
good collaborative recommender can beat popularity but must learn to.

>>> import numpy as np
>>> from services.simulator.catalog import Catalog
>>> rng = np.random.default_rng(3)
>>> cat = Catalog.generate(100, rng, start_s=1e9, span_s=1e6)
>>> pop = Population.generate(20, rng)
>>> taste(pop, cat, 0, np.arange(5)).shape
(5,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelstream.common.v1 import types_pb2 as types
from services.simulator.catalog import FACTORS, GENRES, LATENT_SD, REGION_WEIGHTS, REGIONS, Catalog

DEVICES = (
    types.DEVICE_TYPE_TV,
    types.DEVICE_TYPE_MOBILE,
    types.DEVICE_TYPE_WEB,
    types.DEVICE_TYPE_TABLET,
    types.DEVICE_TYPE_STREAMING_STICK,
    types.DEVICE_TYPE_CONSOLE,
)
DEVICE_P = (0.40, 0.25, 0.15, 0.08, 0.08, 0.04)
# Access network by device: fixed screens sit on Wi-Fi/Ethernet, handhelds also on cellular.
NETWORKS = (
    types.NETWORK_TYPE_WIFI,
    types.NETWORK_TYPE_ETHERNET,
    types.NETWORK_TYPE_CELLULAR_3G,
    types.NETWORK_TYPE_CELLULAR_4G,
    types.NETWORK_TYPE_CELLULAR_5G,
)
FIXED_NET_P = (0.75, 0.25, 0.0, 0.0, 0.0)
MOBILE_NET_P = (0.45, 0.0, 0.15, 0.3, 0.1)
# UTC offset (hours) of each region, for local prime time.
TZ_HOURS = {
    "US": -5,
    "GB": 0,
    "DE": 1,
    "FR": 1,
    "NO": 1,
    "SE": 1,
    "BR": -3,
    "IN": 5.5,
    "JP": 9,
    "ES": 1,
}
USER_MATURITY = (types.MATURITY_KIDS, types.MATURITY_TEEN, types.MATURITY_ADULT)


@dataclass
class Population:
    """Subscribers as parallel arrays indexed by user row."""

    ids: list[str]
    affinity: np.ndarray  # (n, G) hidden genre affinities
    factors: np.ndarray  # (n, k) hidden latent factors
    pickiness: np.ndarray  # (n,) utility of leaving the app without watching
    device: np.ndarray  # DeviceType values
    network: np.ndarray  # NetworkType values
    region: np.ndarray  # index into REGIONS
    max_maturity: np.ndarray  # Maturity values
    sittings_per_day: np.ndarray
    prime_hour: np.ndarray  # preferred local hour
    hour_spread: np.ndarray  # hours
    bandwidth_scale: np.ndarray  # this household's multiplier on the network's median

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def generate(cls, n: int, rng: np.random.Generator, prefix: str = "sim-") -> Population:
        """``n`` subscribers with ids ``{prefix}000000`` onwards."""
        g = len(GENRES)
        affinity = rng.normal(-0.6, 0.3, size=(n, g))
        for u in range(n):  # 2-4 loved genres each
            liked = rng.choice(g, size=int(rng.integers(2, 5)), replace=False)
            affinity[u, liked] = rng.uniform(0.3, 1.2, size=len(liked))
        factors = rng.normal(0.0, (LATENT_SD / np.sqrt(FACTORS)) ** 0.5, size=(n, FACTORS))
        device = np.asarray(DEVICES)[rng.choice(len(DEVICES), size=n, p=DEVICE_P)]
        handheld = np.isin(device, [types.DEVICE_TYPE_MOBILE, types.DEVICE_TYPE_TABLET])
        network = np.where(
            handheld,
            np.asarray(NETWORKS)[rng.choice(len(NETWORKS), size=n, p=MOBILE_NET_P)],
            np.asarray(NETWORKS)[rng.choice(len(NETWORKS), size=n, p=FIXED_NET_P)],
        )
        region = rng.choice(len(REGIONS), size=n, p=REGION_WEIGHTS / REGION_WEIGHTS.sum())
        max_maturity = np.asarray(USER_MATURITY)[rng.choice(3, size=n, p=[0.05, 0.1, 0.85])]
        return cls(
            ids=[f"{prefix}{i:06d}" for i in range(n)],
            affinity=affinity,
            factors=factors,
            pickiness=rng.normal(1.0, 0.3, size=n),
            device=device,
            network=network,
            region=region,
            max_maturity=max_maturity,
            sittings_per_day=np.clip(rng.lognormal(math.log(0.8), 0.6, size=n), 0.1, 5.0),
            prime_hour=np.clip(rng.normal(20.5, 2.0, size=n), 6.0, 23.9),
            hour_spread=rng.uniform(0.5, 3.0, size=n),
            bandwidth_scale=rng.lognormal(0.0, 0.5, size=n),
        )

    def tz_hours(self, u: int) -> float:
        """The viewer's UTC offset."""
        return float(TZ_HOURS[REGIONS[int(self.region[u])]])


def taste(pop: Population, cat: Catalog, u: int, items: np.ndarray) -> np.ndarray:
    """Hidden utility of titles ``items`` for viewer ``u`` (vectorised over titles)."""
    genres = cat.genres[items]
    aff = (genres @ pop.affinity[u]) / np.maximum(genres.sum(1), 1.0)
    out: np.ndarray = aff + cat.factors[items] @ pop.factors[u] + cat.quality[items]
    return out


def next_sitting(
    rng: np.random.Generator, after_s: float, per_day: float, prime_hour: float,
    spread_h: float, tz_h: float,
) -> float:  # fmt: skip
    """When the viewer next opens the app: about ``per_day`` times a day, near prime time.

    >>> rng = np.random.default_rng(0)
    >>> t = next_sitting(rng, 0.0, 1.0, 20.0, 0.1, 0.0)
    >>> t > 1800.0 and abs(((t / 3600.0) % 24) - 20.0) < 1.0
    True
    """
    cand = after_s + rng.exponential(1.0 / per_day) * 86_400.0
    tz = tz_h * 3600.0
    day0 = math.floor((cand + tz) / 86_400.0) * 86_400.0 - tz
    hour = (prime_hour + rng.normal(0.0, spread_h)) % 24.0
    t = day0 + hour * 3600.0
    while t < after_s + 1800.0:
        t += 86_400.0
    return t
