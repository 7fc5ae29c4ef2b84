"""Load MovieLens ratings (u.data or ratings.csv) in the protocol's replay order."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_ratings(path: Path) -> np.ndarray:
    """(n, 4) array of user, item, rating, timestamp, stably sorted by timestamp.

    `u.data` (tab separated, no header) and `ratings.csv` (header
    userId,movieId,rating,timestamp) are told apart by the file name.
    """
    if path.name.endswith(".csv"):
        raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    else:
        raw = np.loadtxt(path, dtype=np.float64)
    order = np.argsort(raw[:, 3], kind="stable")
    return raw[order]
