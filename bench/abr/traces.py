"""Load throughput traces and the chunk-size ladder of a test video from plain-text files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

LADDER_KBPS: tuple[int, ...] = (300, 750, 1200, 1850, 2850, 4300)
CHUNK_S = 4.0
N_CHUNKS = 48


@dataclass(frozen=True)
class Trace:
    """One two-column trace: sample end times (s) and throughput (Mbit/s) held up to each."""

    name: str
    time_s: np.ndarray
    mbps: np.ndarray


@dataclass(frozen=True)
class Video:
    """Chunk sizes in bytes, shape (rungs, chunks + lookahead), and the ladder in kbps.

    The reference files hold 49 lines per rung; the session plays the first
    ``n_chunks`` and the extra line is only ever read by look-ahead planners.
    """

    sizes: np.ndarray
    bitrates_kbps: np.ndarray
    n_chunks: int = N_CHUNKS
    chunk_s: float = CHUNK_S


def load_trace(path: Path) -> Trace:
    """Read ``time_s throughput_Mbps`` lines (extra columns and blank lines are ignored)."""
    times: list[float] = []
    rates: list[float] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        times.append(float(parts[0]))
        rates.append(float(parts[1]))
    if len(times) < 2:
        raise ValueError(f"{path}: a trace needs at least two samples")
    return Trace(path.name, np.asarray(times), np.asarray(rates))


def load_trace_dir(directory: Path) -> list[Trace]:
    """Every regular file of a folder, in sorted name order (the reference loads os.listdir)."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"no trace files in {directory}")
    return [load_trace(p) for p in files]


def load_video(directory: Path, n_rungs: int = len(LADDER_KBPS)) -> Video:
    """Read ``video_size_<rung>`` files (one integer per line) into a Video."""
    rows = []
    for rung in range(n_rungs):
        lines = (directory / f"video_size_{rung}").read_text().split()
        rows.append([int(v) for v in lines])
    width = min(len(r) for r in rows)
    sizes = np.asarray([r[:width] for r in rows], dtype=np.float64)
    n_chunks = min(N_CHUNKS, width)
    return Video(sizes, np.asarray(LADDER_KBPS[:n_rungs], dtype=np.float64), n_chunks)
