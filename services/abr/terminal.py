"""Learned terminal value for the MPC planner: what the state at the horizon's end is worth.

The planner scores five chunks ahead and then needs a value for where a plan
leaves the player: how much buffer is banked and on which rung it ends. A
hand-made value (0.3 QoE per buffered second up to 20 s) ignores that a
second of buffer is worth more on a slow, shaky link than on a fast one.
:class:`TerminalValue` is a small fitted table instead: per band of the
predicted rate (median scenario, Mbit/s of payload), a piecewise-linear value
of the buffer left (knots in seconds) plus a value per final rung. It is
fitted offline by rollouts of the service's own policy on training traces
(``bench/abr/terminal.py``) and shipped as JSON; the planner reads it.

>>> tv = TerminalValue(
...     rate_edges_mbps=(1.0,),
...     knots_s=(0.0, 10.0, 20.0),
...     buffer_values=((0.0, 4.0, 5.0), (0.0, 2.0, 2.0)),
...     rung_values=((0.0, -1.0), (0.0, 0.5)),
... )
>>> band = tv.band(0.5e6 / 8)  # 0.5 Mbit/s: the slow band
>>> tv.buffer_value(np.array([5.0, 30.0], dtype=np.float32), band).tolist()
[2.0, 5.0]
>>> tv.rung_values[tv.band(2e6 / 8)].tolist()
[0.0, 0.5]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt


class TerminalValue:
    """Value of (buffer left, final rung) at the horizon's end, per band of predicted rate.

    ``rate_edges_mbps`` split the median predicted payload rate into bands;
    ``buffer_values[band]`` are the values at ``knots_s`` (linear between knots,
    flat past the last); ``rung_values[band][rung]`` is added for the final rung.
    """

    def __init__(
        self,
        rate_edges_mbps: npt.ArrayLike,
        knots_s: npt.ArrayLike,
        buffer_values: npt.ArrayLike,
        rung_values: npt.ArrayLike,
        scale: float = 1.0,
        rung_scale: float | None = None,
    ) -> None:
        self.rate_edges_mbps = np.asarray(rate_edges_mbps, dtype=float)
        self.knots_s = np.asarray(knots_s, dtype=np.float32)
        self.buffer_values = np.asarray(buffer_values, dtype=np.float32) * np.float32(scale)
        self.rung_values = np.asarray(rung_values, dtype=np.float32) * np.float32(
            scale if rung_scale is None else rung_scale
        )
        bands = len(self.rate_edges_mbps) + 1
        if self.buffer_values.shape != (bands, len(self.knots_s)):
            raise ValueError("buffer_values must be (rate bands, knots)")
        if self.rung_values.shape[0] != bands:
            raise ValueError("rung_values must have one row per rate band")
        if np.any(np.diff(self.knots_s) <= 0):
            raise ValueError("knots_s must increase")

    def band(self, rate_bytes_s: float) -> int:
        """Band of a payload rate in bytes/s."""
        return int(np.searchsorted(self.rate_edges_mbps, rate_bytes_s * 8e-6, side="right"))

    def buffer_value(self, buffer_s: np.ndarray, band: int) -> np.ndarray:
        """Value of buffer levels (any shape) in one band, float32."""
        return np.interp(buffer_s, self.knots_s, self.buffer_values[band]).astype(np.float32)

    def scaled(self, factor: float, rung_factor: float | None = None) -> TerminalValue:
        """The table with its buffer values times ``factor``, rung values times ``rung_factor``.

        ``rung_factor`` None scales the rung values by ``factor`` too.
        """
        return TerminalValue(
            self.rate_edges_mbps,
            self.knots_s,
            self.buffer_values,
            self.rung_values,
            scale=factor,
            rung_scale=rung_factor,
        )

    def to_dict(self) -> dict[str, list[float] | list[list[float]]]:
        """Plain lists, for JSON."""
        return {
            "rate_edges_mbps": self.rate_edges_mbps.tolist(),
            "knots_s": self.knots_s.tolist(),
            "buffer_values": self.buffer_values.tolist(),
            "rung_values": self.rung_values.tolist(),
        }

    def save(self, path: Path | str) -> None:
        """Write the table as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> TerminalValue:
        """Read a table written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        return cls(
            data["rate_edges_mbps"], data["knots_s"], data["buffer_values"], data["rung_values"]
        )
