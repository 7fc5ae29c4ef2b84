"""The player's progress measurement (the rate over a transfer's last 0.5 s): measured, checked,
and read by the next-chunk forecast."""

import math

import numpy as np
import pytest
from confluent_kafka import Message

from bench.abr.simulator import Player
from bench.abr.traces import Trace, Video
from reelstream.platform.consumer import BadRecord
from reelstream.playback.v1 import events_pb2 as pb
from services.abr.engine import AbrEngine, tail_problem
from services.abr.learner import AbrState
from services.abr.predictor import FEATURES, ThroughputPredictor

LADDER = (300, 750, 1200, 1850, 2850, 4300)


def _engine() -> AbrEngine:
    return AbrEngine(LADDER, next_predictor=ThroughputPredictor())


def _chunk(engine: AbrEngine, session: str, mbps: float, tail_mbps: float | None, i: int) -> None:
    size = 600_000.0
    transfer = size * 8 / (mbps * 1e6)
    tail_s = min(0.5, transfer)
    engine.observe_chunk(
        session,
        size_bytes=size,
        download_s=transfer + 0.08,
        rtt_s=0.08,
        now=float(i),
        tail_bytes=0.0 if tail_mbps is None else min(tail_mbps * 1e6 / 8 * tail_s, size),
        tail_s=0.0 if tail_mbps is None else tail_s,
    )


def test_the_tail_is_a_feature_until_the_next_chunk_and_defaults_to_the_chunk_rate():
    engine = _engine()
    engine.start_session("s", now=0.0)
    _chunk(engine, "s", 4.0, 1.0, 0)
    state = engine.store.peek("s")
    assert state is not None
    x = engine.features(state)
    assert x["tail"] == pytest.approx(math.log(1e6 / 8))
    assert x["last"] == pytest.approx(math.log(4e6 / 8))
    _chunk(engine, "s", 2.0, None, 1)  # not measured: the tail reads as the chunk itself
    x = engine.features(state)
    assert x["tail"] == x["last"] == pytest.approx(math.log(2e6 / 8))


def test_a_model_without_the_tail_ignores_it():
    engine = AbrEngine(LADDER, predictor=ThroughputPredictor(features=FEATURES))
    twin = AbrEngine(LADDER, predictor=ThroughputPredictor(features=FEATURES))
    for e, tail in ((engine, 0.3), (twin, None)):
        e.start_session("s", now=0.0)
        for i in range(30):
            _chunk(e, "s", 3.0 + (i % 3), tail, i)
    a = engine.select("s", buffer_s=10.0, now=40.0, last_rung=3)
    b = twin.select("s", buffer_s=10.0, now=40.0, last_rung=3)
    assert (a.rung, a.predicted_rate_bps) == (b.rung, pytest.approx(b.predicted_rate_bps))


def test_the_next_chunk_forecast_follows_a_tail_that_has_told_the_truth():
    # Links change between chunks and each change is under way at the end of the transfer
    # before it: the tail tells the next chunk's rate. Then two sessions alike in every chunk
    # total differ in the last tail only.
    engine = _engine()
    rng = np.random.default_rng(5)
    for s in range(40):
        rates = 4.0 * np.exp(rng.normal(0.0, 0.7, 13))
        engine.start_session(f"p{s}", now=0.0)
        for i in range(12):
            _chunk(engine, f"p{s}", rates[i], rates[i + 1], i)
    for session, last_tail in (("steady", 4.0), ("tailing", 0.6)):
        engine.start_session(session, now=0.0)
        for i in range(6):
            _chunk(engine, session, 4.0, 4.0 if i < 5 else last_tail, i)
    steady = engine.select("steady", buffer_s=8.0, now=10.0, last_rung=3)
    tailing = engine.select("tailing", buffer_s=8.0, now=10.0, last_rung=3)
    assert tailing.predicted_rate_bps < 0.4 * steady.predicted_rate_bps
    assert tailing.rung < steady.rung


@pytest.mark.parametrize(
    ("tail_bytes", "tail", "message"),
    [
        (-1.0, 0.5, "finite and non-negative"),
        (1e5, math.nan, "finite and non-negative"),
        (1e5, 0.0, "both set or both 0"),
        (0.0, 0.5, "both set or both 0"),
        (1e5, 3.0, "must not exceed download_ms"),
        (7e5, 0.5, "must not exceed the chunk's bytes"),
    ],
)
def test_a_tail_that_cannot_end_its_transfer_is_refused(tail_bytes, tail, message):
    assert message in tail_problem(6e5, 2.0, tail_bytes, tail)
    engine = _engine()
    engine.start_session("s", now=0.0)
    with pytest.raises(ValueError, match=message):
        engine.observe_chunk(
            "s", size_bytes=6e5, download_s=2.0, now=1.0, tail_bytes=tail_bytes, tail_s=tail
        )
    state = engine.store.peek("s")
    assert state is not None and state.chunks == 0  # nothing learned from the bad event


class _Record:
    """The part of a Kafka message the learner reads."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value


def test_the_consume_loop_refuses_a_bad_tail_by_name():
    state = AbrState(LADDER)
    ev = pb.PlaybackEvent(
        session_id="s",
        chunk_downloaded=pb.ChunkDownloaded(
            chunk_index=0, rung=2, bytes=600_000, download_ms=1000, tail_bytes=5, tail_ms=2000
        ),
    )
    record: Message = _Record(ev.SerializeToString())  # type: ignore[assignment]
    with pytest.raises(BadRecord, match="tail_ms must not exceed download_ms"):
        state.apply(record)
    ev.chunk_downloaded.tail_ms = 500
    state.apply(_Record(ev.SerializeToString()))  # type: ignore[arg-type]
    assert state.books["s"].last_chunk == 0


def test_the_simulated_player_measures_the_end_of_each_transfer_without_changing_it():
    # 8 Mbit/s for 3 s, then 2 Mbit/s: the second chunk straddles the step and ends at 2.
    t = np.arange(0.0, 101.0)
    trace = Trace("step", t, np.where(t <= 3.0, 8.0, 2.0))
    sizes = np.full((6, 4), 1_900_000.0)  # 2 s at 8 Mbit/s x 0.95
    video = Video(sizes, np.array(LADDER, float), n_chunks=3)
    measured, plain = Player(trace, video), Player(trace, video, tail_ms=0.0)
    obs = [measured.download(0) for _ in range(3)]
    ref = [plain.download(0) for _ in range(3)]
    assert [o.delay_ms for o in obs] == [r.delay_ms for r in ref]  # same physics
    payload = 0.95 * 1e6 / 8  # bytes/s per Mbit/s
    assert obs[0].tail_ms == 500.0
    assert obs[0].tail_bytes / 0.5 == pytest.approx(8 * payload)
    second = obs[1]  # 1 s at 8 Mbit/s, then 4 s at 2
    assert second.delay_ms == pytest.approx(5_080.0)
    assert second.tail_bytes / 0.5 == pytest.approx(2 * payload)
    assert second.size_bytes / 5.0 == pytest.approx(3.2 * payload)  # what the chunk total says
