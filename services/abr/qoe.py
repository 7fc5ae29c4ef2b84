"""QoE objectives of the ABR literature: linear (default), log and HD (Pensieve / MPC papers).

Every objective scores a chunk as ``utility[rung] - rebuffer_penalty * rebuffer_s
- smooth_penalty * |utility[rung] - utility[last]|``; they differ only in the
per-rung utility and the rebuffer weight.

>>> qoe = QoE.linear((300, 750, 1200, 1850, 2850, 4300))
>>> round(qoe.chunk(rung=5, last=3, rebuffer_s=0.5), 3)
-0.3
>>> QoE.named("log", (300, 750)).utility.round(3).tolist()
[0.0, 0.916]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Pensieve's HD reward table for its 6-rung ladder.
HD_UTILITY = (1.0, 2.0, 3.0, 12.0, 15.0, 20.0)


@dataclass(frozen=True)
class QoE:
    """A per-chunk QoE objective over a bitrate ladder."""

    name: str
    utility: np.ndarray
    rebuffer_penalty: float
    smooth_penalty: float = 1.0

    @classmethod
    def linear(cls, ladder_kbps: Sequence[float], rebuffer_penalty: float = 4.3) -> QoE:
        """QoE_lin: bitrate in Mbit/s, 4.3 per rebuffer second (1 s stall ~ the top rung)."""
        return cls("linear", np.asarray(ladder_kbps, dtype=float) / 1000.0, rebuffer_penalty)

    @classmethod
    def log(cls, ladder_kbps: Sequence[float], rebuffer_penalty: float = 2.66) -> QoE:
        """QoE_log: log(R / R_min), 2.66 per rebuffer second."""
        rates = np.asarray(ladder_kbps, dtype=float)
        return cls("log", np.log(rates / rates[0]), rebuffer_penalty)

    @classmethod
    def hd(cls, ladder_kbps: Sequence[float], rebuffer_penalty: float = 8.0) -> QoE:
        """QoE_hd: Pensieve's table favouring HD rungs, 8 per rebuffer second."""
        if len(ladder_kbps) != len(HD_UTILITY):
            raise ValueError("the HD objective is defined for a 6-rung ladder")
        return cls("hd", np.asarray(HD_UTILITY), rebuffer_penalty)

    @classmethod
    def named(cls, name: str, ladder_kbps: Sequence[float]) -> QoE:
        """Build an objective by name: ``linear``, ``log`` or ``hd``."""
        makers = {"linear": cls.linear, "log": cls.log, "hd": cls.hd}
        if name not in makers:
            raise ValueError(f"unknown QoE objective {name!r}; choose from {sorted(makers)}")
        return makers[name](ladder_kbps)

    def chunk(self, rung: int, last: int, rebuffer_s: float) -> float:
        """Score of one chunk fetched at ``rung`` after ``last``."""
        u = self.utility
        return float(
            u[rung]
            - self.rebuffer_penalty * rebuffer_s
            - self.smooth_penalty * abs(u[rung] - u[last])
        )
