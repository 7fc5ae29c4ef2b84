"""The app's clients for recommendation and abr: deadlines, a circuit breaker, counted fallbacks.

A real app does not hammer a failing backend: after ``failures`` consecutive
errors the breaker opens for ``cooldown_s`` and the app uses its fallback (the
built-in default row, client-side BBA) without calling; then one probe call
is let through (half-open) and a success closes it again. Every failed call
counts in ``reelstream_simulator_rpc_errors_total`` and every fallback in
``reelstream_simulator_fallbacks_total``; no RPC error ever escapes.

>>> now = [0.0]
>>> b = Breaker(failures=2, cooldown_s=5.0, clock=lambda: now[0])
>>> b.failure(); b.allow()
True
>>> b.failure(); b.allow()
False
>>> now[0] = 6.0; b.allow(), b.allow()  # one probe only
(True, False)
>>> b.success(); b.allow()
True
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import numpy as np

from reelstream.abr.v1 import abr_pb2
from reelstream.abr.v1 import abr_pb2_grpc as abr_grpc
from reelstream.recommendation.v1 import recommendation_pb2 as rec_pb
from reelstream.recommendation.v1 import recommendation_pb2_grpc as rec_grpc
from services.simulator import metrics

T = TypeVar("T")


class Breaker:
    """Consecutive-failure circuit breaker with a single half-open probe."""

    def __init__(
        self,
        failures: int = 3,
        cooldown_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._consecutive = 0
        self._open_until = 0.0
        self._probing = False

    def allow(self) -> bool:
        """May a call go out now?"""
        if self._consecutive < self.failures:
            return True
        if self._probing or self.clock() < self._open_until:
            return False
        self._probing = True
        return True

    def closed(self) -> bool:
        """Would :meth:`allow` let a call through (without claiming the probe)?"""
        if self._consecutive < self.failures:
            return True
        return not self._probing and self.clock() >= self._open_until

    def success(self) -> None:
        """A call succeeded: close."""
        self._consecutive = 0
        self._probing = False

    def failure(self) -> None:
        """A call failed: count it; open (again) once the threshold is reached."""
        self._consecutive += 1
        self._probing = False
        if self._consecutive >= self.failures:
            self._open_until = self.clock() + self.cooldown_s


class _Guarded:
    """Runs calls of one service through its breaker, timing and counting them."""

    def __init__(self, service: str, timeout_s: float, breaker: Breaker | None = None) -> None:
        self.service = service
        self.timeout_s = timeout_s
        self.breaker = breaker or Breaker()
        self.errors = 0
        self.fallbacks = 0
        self.calls = 0
        self.error_codes: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=4096)  # recent successful calls, seconds
        self._fallback_metric = metrics.FALLBACKS.labels(service)

    def available(self) -> bool:
        """False while the breaker is open (the caller should fall back without calling)."""
        return self.breaker.allow()

    def latency_ms(self) -> dict[str, float]:
        """p50/p95/p99 of recent successful calls, milliseconds (empty if none)."""
        if not self.latencies:
            return {}
        q = np.percentile(np.asarray(self.latencies) * 1000.0, [50, 95, 99])
        return {
            "p50": round(float(q[0]), 2),
            "p95": round(float(q[1]), 2),
            "p99": round(float(q[2]), 2),
        }

    def usable(self) -> bool:
        """Like :meth:`available` but without side effects (for scheduling decisions)."""
        return self.breaker.closed()

    def fallback(self) -> None:
        """Count one fallback."""
        self.fallbacks += 1
        self._fallback_metric.inc()

    async def call(self, method: str, fn: Callable[..., Awaitable[T]], request: Any) -> T | None:
        """``await fn(request)`` with the deadline; None on any RPC failure (counted)."""
        self.calls += 1
        t0 = time.perf_counter()
        try:
            out = await fn(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            self.errors += 1
            self.error_codes[exc.code().name] += 1
            self.breaker.failure()
            metrics.RPC_ERRORS.labels(self.service, exc.code().name).inc()
            return None
        except TimeoutError:  # a client-side deadline (streams have no per-message one)
            self.errors += 1
            self.error_codes["DEADLINE_EXCEEDED"] += 1
            self.breaker.failure()
            metrics.RPC_ERRORS.labels(self.service, "DEADLINE_EXCEEDED").inc()
            return None
        except Exception:  # a client-side failure (channel closed...): same degradation
            self.errors += 1
            self.error_codes["CLIENT"] += 1
            self.breaker.failure()
            metrics.RPC_ERRORS.labels(self.service, "CLIENT").inc()
            return None
        elapsed = time.perf_counter() - t0
        self.latencies.append(elapsed)
        metrics.RPC_SECONDS.labels(self.service, method).observe(elapsed)
        self.breaker.success()
        return out


class RecClient(_Guarded):
    """Home-screen rows from the recommendation service."""

    def __init__(
        self,
        stub: rec_grpc.RecommendationServiceStub,
        timeout_s: float = 0.5,
        breaker: Breaker | None = None,
    ) -> None:
        super().__init__("recommendation", timeout_s, breaker)
        self.stub = stub

    async def home_rows(self, request: rec_pb.HomeRowsRequest) -> rec_pb.HomeRowsResponse | None:
        """The rows, or None (the caller shows its default row)."""
        return await self.call("HomeRows", self.stub.HomeRows, request)


class AbrClient(_Guarded):
    """Bitrate decisions from the abr service, on one stream per playback session.

    A player asks once per chunk for the whole session, so it holds a
    ``SelectBitrateStream`` open (half the server's CPU of a unary call per decision).
    A failed or timed-out exchange drops that stream; the next chunk opens a new one.
    At most ``max_streams`` streams are held (the oldest is closed beyond that).
    """

    def __init__(
        self,
        stub: abr_grpc.AbrServiceStub,
        timeout_s: float = 0.5,
        max_streams: int = 20_000,
        breaker: Breaker | None = None,
    ) -> None:
        super().__init__("abr", timeout_s, breaker)
        self.stub = stub
        self.max_streams = max_streams
        self._streams: OrderedDict[str, Any] = OrderedDict()

    async def start(
        self, request: abr_pb2.StartSessionRequest
    ) -> abr_pb2.StartSessionResponse | None:
        """Open a session on the service; None if it failed."""
        return await self.call("StartSession", self.stub.StartSession, request)

    async def select(
        self, request: abr_pb2.SelectBitrateRequest
    ) -> abr_pb2.SelectBitrateResponse | None:
        """The rung for the next chunk; None if it failed (the caller uses BBA)."""
        return await self.call("SelectBitrateStream", self._exchange, request)

    async def _exchange(
        self,
        request: abr_pb2.SelectBitrateRequest,
        timeout: float,  # noqa: ASYNC109 - the signature of a stub call, for call()
    ) -> abr_pb2.SelectBitrateResponse:
        sid = request.session_id
        stream = self._streams.get(sid)
        if stream is None:
            stream = self.stub.SelectBitrateStream()
            self._streams[sid] = stream
            while len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)[1].cancel()
        try:
            async with asyncio.timeout(timeout):
                await stream.write(request)
                response = await stream.read()
        except BaseException:
            self._drop(sid)
            raise
        if response is grpc.aio.EOF:  # an abort raises in read(); EOF is a clean end, unasked
            self._drop(sid)
            raise RuntimeError("the abr service ended the decision stream")
        return response

    def _drop(self, session_id: str) -> None:
        stream = self._streams.pop(session_id, None)
        if stream is not None:
            stream.cancel()

    def close_session(self, session_id: str) -> None:
        """Forget a session's stream without calling the service (the breaker may be open)."""
        self._drop(session_id)

    async def end(self, request: abr_pb2.EndSessionRequest) -> abr_pb2.EndSessionResponse | None:
        """Close the session's stream and the session on the service."""
        stream = self._streams.pop(request.session_id, None)
        if stream is not None:
            with contextlib.suppress(grpc.aio.AioRpcError):  # already ended: nothing in flight
                await stream.done_writing()
        return await self.call("EndSession", self.stub.EndSession, request)
