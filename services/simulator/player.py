"""The client player's mechanics: the bitrate ladder, chunk sizes, buffer dynamics and BBA.

Buffer dynamics follow the Pensieve simulator: while chunk ``n`` downloads for
``d`` seconds the buffer drains by ``d``; if it runs dry the viewer stalls for
``d - buffer`` (a rebuffer); when the chunk lands the buffer gains one chunk;
above the cap the player sleeps (in 0.5-s steps) until it is back under. The
first chunk of a session (and after a seek) is startup delay, not a rebuffer.

>>> o = advance(buffer_s=2.0, download_s=3.0)
>>> o.rebuffer_s, o.buffer_after_s, o.played_s
(1.0, 4.0, 2.0)
>>> bba_rung(3.0), bba_rung(10.0), bba_rung(30.0)
(0, 2, 5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LADDER_KBPS = (300, 750, 1200, 1850, 2850, 4300)
CHUNK_S = 4.0
BUFFER_CAP_S = 60.0
SLEEP_STEP_S = 0.5
# Per-chunk size variation of a VBR encode (same pattern for every rung of a chunk).
_VBR = np.random.default_rng(12345).lognormal(0.0, 0.12, 4096)
_VBR = (_VBR / _VBR.mean()).tolist()


def chunk_bytes(rung: int, title: int, chunk: int) -> int:
    """Bytes of ``chunk`` of ``title`` at ``rung``: nominal bitrate times a VBR factor.

    >>> chunk_bytes(0, 1, 2) > 0 and chunk_bytes(5, 1, 2) > chunk_bytes(4, 1, 2)
    True
    """
    vbr = _VBR[(title * 131 + chunk) % len(_VBR)]
    return int(LADDER_KBPS[rung] * 1000 * CHUNK_S / 8 * vbr)


def sizes_ahead(title: int, chunk: int, n: int = 5) -> list[list[int]]:
    """Sizes of the next ``n`` chunks, one list of per-rung bytes each (for the ABR request)."""
    return [[chunk_bytes(r, title, chunk + j) for r in range(len(LADDER_KBPS))] for j in range(n)]


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What one chunk download did to the player."""

    download_s: float
    rebuffer_s: float
    buffer_after_s: float
    sleep_s: float  # idle after the download because the buffer was full
    played_s: float  # content seconds played during download + sleep


def advance(
    buffer_s: float,
    download_s: float,
    *,
    startup: bool = False,
    chunk_s: float = CHUNK_S,
    cap_s: float = BUFFER_CAP_S,
) -> ChunkOutcome:
    """The buffer after one chunk downloaded in ``download_s`` with ``buffer_s`` in the buffer.

    >>> advance(58.0, 1.0)  # lands at 61 s > 60 s cap: sleep 1 s (two 0.5-s steps)
    ChunkOutcome(download_s=1.0, rebuffer_s=0.0, buffer_after_s=60.0, sleep_s=1.0, played_s=2.0)
    >>> advance(0.0, 2.5, startup=True).rebuffer_s
    0.0
    """
    if startup:
        rebuffer, played = 0.0, 0.0
        buffer = chunk_s
    else:
        rebuffer = max(download_s - buffer_s, 0.0)
        played = min(download_s, buffer_s)
        buffer = max(buffer_s - download_s, 0.0) + chunk_s
    sleep = 0.0
    if buffer > cap_s:
        sleep = math.ceil((buffer - cap_s) / SLEEP_STEP_S) * SLEEP_STEP_S
        buffer -= sleep
        played += sleep
    return ChunkOutcome(download_s, rebuffer, buffer, sleep, played)


def bba_rung(
    buffer_s: float,
    *,
    reservoir_s: float = 5.0,
    cushion_s: float = 10.0,
    rungs: int = len(LADDER_KBPS),
    max_rung: int = -1,
) -> int:
    """Buffer-based adaptation (Huang et al., SIGCOMM 2014) as in Pensieve's baseline.

    Lowest rung below the reservoir, top rung above reservoir + cushion, and a
    linear map of the buffer onto the ladder's rung index in between.

    >>> [bba_rung(b) for b in (0.0, 5.0, 7.0, 9.0, 11.0, 13.0, 14.9, 15.0)]
    [0, 0, 1, 2, 3, 4, 4, 5]
    >>> bba_rung(30.0, max_rung=3)
    3
    """
    top = rungs - 1 if max_rung < 0 else min(max_rung, rungs - 1)
    if buffer_s < reservoir_s:
        rung = 0
    elif buffer_s >= reservoir_s + cushion_s:
        rung = rungs - 1
    else:
        rung = int((rungs - 1) * (buffer_s - reservoir_s) / cushion_s)
    return min(rung, top)
