"""The gRPC service runtime: one ``grpc.aio`` server with health, reflection and metrics.

:class:`ServiceRuntime` binds the port, registers the servicers, the standard
health service (NOT_SERVING until the service calls :meth:`set_serving`, i.e.
until its model is loaded and its partitions are assigned), server reflection
and the RED metrics interceptor, starts ``/metrics``, and on SIGTERM/SIGINT
stops gracefully: health goes NOT_SERVING, in-flight RPCs get ``grace_s`` to
finish, then the shutdown hooks run (a final snapshot, a producer flush).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import threadpoolctl
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from reelstream.platform import logs, metrics
from reelstream.platform.settings import ServiceSettings

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ServiceRuntime:
    """Owns the gRPC server, health state, metrics endpoint and shutdown order."""

    def __init__(self, name: str, host: str, port: int, *, grace_s: float = 5.0) -> None:
        self.name = name
        self.grace_s = grace_s
        self.server = grpc.aio.server(
            interceptors=[metrics.MetricsInterceptor()],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names: list[str] = [health.SERVICE_NAME, reflection.SERVICE_NAME]
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise RuntimeError(f"{name}: cannot bind gRPC to {host}:{port}")
        self.stop_event = asyncio.Event()
        self._shutdown_hooks: list[Callable[[], Awaitable[None] | None]] = []
        self._tasks: list[asyncio.Task[Any]] = []

    def add_service(
        self, full_name: str, add_fn: Callable[[Any, Any], None], servicer: Any
    ) -> None:
        """Register a servicer, e.g. ``add_service(NAME, add_FooServicer_to_server, impl)``."""
        add_fn(servicer, self.server)
        self._service_names.append(full_name)

    def on_shutdown(self, hook: Callable[[], Awaitable[None] | None]) -> None:
        """Run ``hook`` after the server stopped accepting RPCs (in registration order)."""
        self._shutdown_hooks.append(hook)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run a background task (a consume loop) that stops with the service."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.stop_event.is_set():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "background task died; stopping", extra={"task": task.get_name()}, exc_info=exc
            )
            self.stop_event.set()

    async def start(self) -> None:
        """Start serving (health NOT_SERVING until :meth:`set_serving`)."""
        reflection.enable_server_reflection(self._service_names, self.server)
        for svc in [*self._service_names, ""]:
            await self.health.set(svc, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        log.info("gRPC listening", extra={"port": self.port, "services": len(self._service_names)})

    async def set_serving(self, serving: bool = True) -> None:
        """Flip health for every registered service (and the server as a whole)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for svc in [*self._service_names, ""]:
            await self.health.set(svc, status)
        metrics.READY.set(1 if serving else 0)

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT trigger a graceful stop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)

    async def wait_and_stop(self) -> None:
        """Block until stop is requested, then stop in order: health, RPCs, tasks, hooks."""
        await self.stop_event.wait()
        await self.stop()

    async def stop(self) -> None:
        """Graceful stop; safe to call once."""
        self.stop_event.set()
        log.info("stopping", extra={"grace_s": self.grace_s})
        await self.health.enter_graceful_shutdown()
        metrics.READY.set(0)
        await self.server.stop(self.grace_s)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in self._shutdown_hooks:
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        log.info("stopped")


REALTIME_PRIORITY = 10


def set_cpu_priority(priority: str) -> bool:
    """Put the calling thread (and the threads it starts later) under ``priority``.

    ``realtime`` is SCHED_RR at priority 10: on a machine shared with other work (the broker, a
    load generator, batch jobs) a request then waits for no time slice but another real-time
    task's, which is what a latency target per request needs when the cores are not dedicated
    (measured in ``bench/results/abr_grpc.md``). The kernel's real-time throttling still leaves
    5 % of every second to the rest. Returns whether the policy was applied; without
    CAP_SYS_NICE it logs why and the service runs at normal priority.

    >>> set_cpu_priority("normal")
    True
    """
    if priority == "normal":
        return True
    if priority != "realtime":
        raise ValueError(f"cpu_priority must be normal or realtime, got {priority!r}")
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
    except PermissionError as exc:
        log.warning(
            "cannot run at real-time priority (needs CAP_SYS_NICE); running at normal",
            extra={"error": str(exc)},
        )
        return False
    log.info("running at real-time priority", extra={"policy": "SCHED_RR"})
    return True


def run_service(
    settings: ServiceSettings,
    name: str,
    serve: Callable[[Any], Awaitable[tuple[ServiceRuntime, Any]]],
) -> None:
    """Process entry point shared by the services: logging, /metrics, serve, wait for SIGTERM."""
    logs.configure(name, settings.log_level, settings.log_json)
    # A request is answered on one thread with small matrix products (a 200 x 200 genre overlap,
    # a 6 x 10k blend). OpenBLAS would fan each out to a thread per core and spin there: measured
    # 15-40x the CPU of one thread for the 200 x 200 product on this 2-core machine, taken from
    # the gRPC poller and the consume loop.
    threadpoolctl.threadpool_limits(settings.blas_threads)
    # Before any thread exists: gRPC's poller and the Kafka clients' threads inherit it.
    set_cpu_priority(settings.cpu_priority)

    async def amain() -> None:
        port = metrics.serve_metrics(settings.metrics_host, settings.metrics_port)
        runtime, _ = await serve(settings)
        # Serving latency: what exists now (code, a restored model) lives for the whole process,
        # so it leaves the cyclic collector's scans, and young collections run 10x less often.
        # A full collection over a large model otherwise pauses every request in flight.
        gc.freeze()
        gc.set_threshold(7_000, 10, 10)
        runtime.install_signal_handlers()
        log.info(f"{name} started", extra={"grpc_port": runtime.port, "metrics_port": port})
        await runtime.wait_and_stop()

    asyncio.run(amain())
