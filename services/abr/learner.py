"""The ABR service's state: the engine (population predictor + sessions) and session accounting.

``apply`` is the consume loop's handler: session starts open sessions with their
context, chunk downloads teach the predictor and the session history. Players may
also report recent downloads in their requests; each chunk is learned once, from
whichever source delivers it first (deduplicated by session and chunk index), and
that bookkeeping is snapshotted with the model, so after a restore the Kafka replay
re-applies exactly what the snapshot lacks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from confluent_kafka import Message

from reelstream.common.v1 import types_pb2
from reelstream.platform.consumer import BadRecord
from reelstream.playback.v1 import events_pb2 as pb
from services.abr import metrics
from services.abr.engine import DEFAULT_LEVELS as SCENARIO_LEVELS
from services.abr.engine import AbrEngine, Decision, tail_problem
from services.abr.planner import MpcPlanner
from services.abr.predictor import ThroughputPredictor
from services.abr.qoe import QoE

QOE_DECAY = 1 / 2000
_NETWORK = {v: k.removeprefix("NETWORK_TYPE_").lower() for k, v in types_pb2.NetworkType.items()}
_DEVICE = {v: k.removeprefix("DEVICE_TYPE_").lower() for k, v in types_pb2.DeviceType.items()}


def context_of(client: pb.ClientInfo, now_s: float) -> dict[str, object]:
    """Population-prior context of a session: network, device, region, hour of day."""
    return {
        "network": _NETWORK.get(client.network_type, "unspecified"),
        "device": _DEVICE.get(client.device_type, "unspecified"),
        "region": client.region,
        "hour": int(now_s // 3600 % 24),
    }


@dataclass
class SessionBook:
    """What the service tracks about a session besides the engine's own state."""

    ladder: tuple[int, ...]
    objective: str = "linear"
    last_chunk: int = -1
    predicted_s: float = 0.0
    predicted_chunk: int = -1
    qoe: float = 0.0
    chunks: int = 0
    last_kbps: int = 0


class AbrState:
    """Engines per (ladder, objective), sharing one population predictor; session books.

    Two models, both shared by every engine: the predictor of the harmonic-mean rate over the
    next 4 chunks (the plan's horizon) and one of the very next chunk, the one a decision
    commits to, which leans on the player's measurement of the last transfer's end.
    """

    # A state restored from a snapshot taken before the next-chunk model existed plans with the
    # horizon model alone (as it did), also in engines it creates later.
    next_predictor: ThroughputPredictor | None = None

    def __init__(
        self, ladder_kbps: tuple[int, ...], chunk_s: float = 4.0, max_sessions: int = 100_000
    ) -> None:
        self.default_ladder = tuple(ladder_kbps)
        self.chunk_s = chunk_s
        self.max_sessions = max_sessions
        # Each model tracks only the error quantiles the planner uses as scenarios (every level
        # is its own streaming estimate, so the others would be upkeep nobody reads).
        self.predictor = ThroughputPredictor(levels=SCENARIO_LEVELS)
        self.next_predictor = ThroughputPredictor(levels=SCENARIO_LEVELS, learn_prior=False)
        self.engines: dict[tuple[tuple[int, ...], str], AbrEngine] = {}
        self.books: OrderedDict[str, SessionBook] = OrderedDict()
        self.rolling_qoe = 0.0
        self.chunks_seen = 0
        self.engine(self.default_ladder, "linear")

    def engine(self, ladder: tuple[int, ...], objective: str) -> AbrEngine:
        """The engine for a ladder and QoE objective (created once, predictor shared)."""
        key = (ladder, objective)
        if key not in self.engines:
            planner = MpcPlanner(QoE.named(objective, ladder), chunk_s=self.chunk_s)
            self.engines[key] = AbrEngine(
                ladder,
                planner=planner,
                predictor=self.predictor,
                next_predictor=self.next_predictor,
                chunk_s=self.chunk_s,
            )
        return self.engines[key]

    def book(self, session_id: str) -> SessionBook | None:
        return self.books.get(session_id)

    def open(
        self,
        session_id: str,
        ladder: tuple[int, ...],
        objective: str,
        client: pb.ClientInfo | None,
        max_rung: int | None,
    ) -> AbrEngine:
        """Start (or restart) a session."""
        now = time.time()
        eng = self.engine(ladder, objective)
        eng.start_session(
            session_id,
            now=now,
            context=context_of(client or pb.ClientInfo(), now),
            max_rung=max_rung,
        )
        self.books[session_id] = SessionBook(ladder, objective)
        self.books.move_to_end(session_id)
        while len(self.books) > self.max_sessions:
            old, book = self.books.popitem(last=False)
            self.engine(book.ladder, book.objective).end_session(old)
        metrics.ACTIVE_SESSIONS.set(len(self.books))
        return eng

    def session_engine(self, session_id: str) -> tuple[AbrEngine, SessionBook]:
        """Engine and book of a session, opening it on the default ladder if unknown."""
        book = self.books.get(session_id)
        if book is None:
            return self.open(session_id, self.default_ladder, "linear", None, None), self.books[
                session_id
            ]
        return self.engine(book.ladder, book.objective), book

    def observe(
        self,
        session_id: str,
        chunk_index: int,
        rung: int,
        size_bytes: float,
        download_s: float,
        rtt_s: float | None,
        buffer_s: float | None,
        source: str,
        tail_bytes: float = 0.0,
        tail_s: float = 0.0,
    ) -> bool:
        """Learn from one chunk download unless that chunk was already learned; True if learned.

        ``tail_bytes`` over ``tail_s``: the player's measurement of the transfer's end (0: none).
        """
        eng, book = self.session_engine(session_id)
        if chunk_index <= book.last_chunk:
            return False
        if book.predicted_chunk == chunk_index and download_s > 0:
            metrics.PREDICTION_ERROR.observe(abs(book.predicted_s - download_s) / download_s)
        eng.observe_chunk(
            session_id,
            size_bytes=size_bytes,
            download_s=download_s,
            rtt_s=rtt_s,
            buffer_s=buffer_s,
            rung=rung,
            now=time.time(),
            tail_bytes=tail_bytes,
            tail_s=tail_s,
        )
        book.last_chunk = chunk_index
        metrics.child(metrics.CHUNKS, source).inc()
        return True

    # -- the consume loop's handler --------------------------------------------------------
    def apply(self, msg: Message) -> None:
        try:
            ev = pb.PlaybackEvent.FromString(msg.value() or b"")
        except Exception as exc:
            raise BadRecord(f"not a PlaybackEvent: {exc}", code="UNDECODABLE") from exc
        kind = ev.WhichOneof("kind")
        if kind == "session_start":
            if ev.session_id not in self.books:
                self.open(ev.session_id, self.default_ladder, "linear", ev.client, None)
            return
        if kind != "chunk_downloaded":
            return
        c = ev.chunk_downloaded
        if c.download_ms <= 0 or c.bytes <= 0:
            raise BadRecord(
                "chunk without size or download time",
                "chunk_downloaded.download_ms",
                "OUT_OF_RANGE",
            )
        problem = tail_problem(c.bytes, c.download_ms, c.tail_bytes, c.tail_ms)
        if problem:
            raise BadRecord(problem, "chunk_downloaded.tail_ms", "OUT_OF_RANGE")
        self.observe(
            ev.session_id,
            c.chunk_index,
            c.rung,
            float(c.bytes),
            c.download_ms / 1000,
            c.rtt_ms / 1000 if c.rtt_ms > 0 else None,
            c.buffer_after_s,
            "kafka",
            tail_bytes=float(c.tail_bytes),
            tail_s=c.tail_ms / 1000,
        )
        self._account(ev.session_id, c)

    def _account(self, session_id: str, c: pb.ChunkDownloaded) -> None:
        """Session QoE bookkeeping from what players report (rebuffer, bitrate, switches)."""
        book = self.books.get(session_id)
        rebuffer_s = c.rebuffer_ms / 1000
        metrics.REBUFFER_SECONDS.inc(rebuffer_s)
        metrics.PLAYED_SECONDS.inc(self.chunk_s)
        metrics.BITRATE.observe(c.bitrate_kbps)
        switch = abs(c.bitrate_kbps - book.last_kbps) / 1000 if book and book.chunks else 0.0
        q = c.bitrate_kbps / 1000 - 4.3 * rebuffer_s - switch
        self.chunks_seen += 1
        self.rolling_qoe += max(QOE_DECAY, 1 / self.chunks_seen) * (q - self.rolling_qoe)
        metrics.ROLLING_QOE.set(self.rolling_qoe)
        if book is not None:
            book.qoe += q
            book.chunks += 1
            book.last_kbps = c.bitrate_kbps

    # -- decisions -------------------------------------------------------------------------
    def select(
        self,
        session_id: str,
        chunk_index: int,
        buffer_s: float,
        last_rung: int | None,
        sizes: np.ndarray | None,
        max_rung: int | None,
        ladder: tuple[int, ...] | None,
    ) -> tuple[Decision, tuple[int, ...]]:
        """Decide the next rung; remember the prediction to score it when the chunk arrives."""
        eng, book = self.session_engine(session_id)
        used = book.ladder
        if ladder and ladder != book.ladder:
            eng, used = self.engine(ladder, book.objective), ladder
        t0 = time.perf_counter()
        decision = eng.select(
            session_id,
            buffer_s=buffer_s,
            sizes_ahead=sizes,
            now=time.time(),
            max_rung=max_rung,
            last_rung=last_rung,
        )
        metrics.DECISION_SECONDS.observe(time.perf_counter() - t0)
        book.predicted_s = decision.predicted_download_s
        book.predicted_chunk = chunk_index
        metrics.child(metrics.DECISIONS, str(decision.rung)).inc()
        metrics.child(metrics.REASONS, decision.reason).inc()
        return decision, used  # the engine's ladder: engines are keyed by it

    def close(self, session_id: str) -> SessionBook | None:
        """End a session: its QoE goes to the histogram, its state is dropped."""
        book = self.books.pop(session_id, None)
        if book is None:
            return None
        self.engine(book.ladder, book.objective).end_session(session_id)
        if book.chunks:
            metrics.SESSION_QOE.observe(book.qoe / book.chunks)
        metrics.ACTIVE_SESSIONS.set(len(self.books))
        return book
