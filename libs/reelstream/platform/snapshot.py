"""Snapshots of a model together with the Kafka offsets it has applied, written atomically.

A snapshot is one pickle of ``{"state": ..., "offsets": ..., "meta": ...}``:
model and offsets can never disagree, because they are one file. Writes go to a
temporary file that is fsynced and then renamed over the previous snapshot
(rename is atomic on POSIX), so a crash at any moment, even ``kill -9``, leaves
either the old snapshot or the new one, never half of one.

>>> import tempfile
>>> store = SnapshotStore(tempfile.mkdtemp(), "demo")
>>> store.load() is None
True
>>> _ = store.save({"w": [1.0]}, {("topic", 0): 42})
>>> snap = store.load()
>>> snap.state, snap.offsets
({'w': [1.0]}, {('topic', 0): 42})
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelstream.platform import metrics

FORMAT_VERSION = 1


class SnapshotIncompatible(RuntimeError):
    """The snapshot file cannot be loaded by this version of the code."""


@dataclass
class Snapshot:
    """A loaded snapshot: the model state, the offsets applied to it, and metadata."""

    state: Any
    offsets: dict[tuple[str, int], int]
    meta: dict[str, Any] = field(default_factory=dict)


class SnapshotStore:
    """One service's snapshot file in ``directory`` (``<name>.snapshot``)."""

    def __init__(self, directory: str | os.PathLike[str], name: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{name}.snapshot"

    def save(self, state: Any, offsets: dict[tuple[str, int], int], **meta: Any) -> int:
        """Write state and offsets atomically; return the size in bytes."""
        t0 = time.perf_counter()
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": FORMAT_VERSION,
            "state": state,
            "offsets": dict(offsets),
            "meta": {"written_at": time.time(), **meta},
        }
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        metrics.SNAPSHOT_SECONDS.observe(time.perf_counter() - t0)
        metrics.SNAPSHOT_BYTES.set(len(data))
        return len(data)

    def load(self) -> Snapshot | None:
        """The last snapshot written, or None if there is none yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            payload = pickle.loads(data)
        except (
            AttributeError,
            ModuleNotFoundError,
            ImportError,
            pickle.UnpicklingError,
            EOFError,
        ) as exc:
            raise SnapshotIncompatible(
                f"{self.path} was written by an incompatible version of the model ({exc}); "
                "move it aside to rebuild the model from Kafka"
            ) from exc
        if payload.get("version") != FORMAT_VERSION:
            raise ValueError(f"{self.path}: snapshot format {payload.get('version')} unsupported")
        return Snapshot(payload["state"], payload["offsets"], payload["meta"])
