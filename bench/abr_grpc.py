"""ABR decision latency through gRPC: the abr service as its own process, at a fixed request rate.

Open loop (requests are sent on a schedule, not when the previous answer arrives, so a
slow answer cannot hide the queueing behind it): ``--rate`` SelectBitrate calls per
second spread over ``--sessions`` concurrent playback sessions, each call carrying the
previous chunk's download as a player would. Prints one JSON line:
``{"decisions": N, "rate": R, "decision_p50_ms": .., "decision_p99_ms": ..}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid

import grpc

from bench.common import ROOT, ServiceProcess, free_port, percentile, progress
from reelstream.abr.v1 import abr_pb2 as api
from reelstream.abr.v1 import abr_pb2_grpc as api_grpc
from reelstream.platform.topics import TopicNames, ensure_topics

LADDER = (300, 750, 1200, 1850, 2850, 4300)


async def drive(
    port: int, rate: float, seconds: float, sessions: int, errors: dict[str, int], seed: int = 0
) -> list[float]:
    """Send the load; return per-call latencies in ms (failed calls are counted in ``errors``)."""
    rng = random.Random(seed)
    lat: list[float] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = api_grpc.AbrServiceStub(ch)
        ids = [f"s-{uuid.uuid4().hex[:8]}" for _ in range(sessions)]
        await asyncio.gather(
            *(
                stub.StartSession(api.StartSessionRequest(session_id=s, ladder_kbps=LADDER))
                for s in ids
            )
        )
        chunk = dict.fromkeys(ids, 0)
        mbps = {s: rng.uniform(0.5, 8.0) for s in ids}
        tasks = []

        async def one(s: str) -> None:
            k = chunk[s]
            chunk[s] = k + 1
            size = 1850 * 500
            req = api.SelectBitrateRequest(
                session_id=s,
                chunk_index=k + 1,
                buffer_s=rng.uniform(0, 40),
                last_rung=3,
                recent=[
                    api.ChunkObservation(
                        chunk_index=k,
                        rung=3,
                        bytes=size,
                        download_ms=size * 8 / (mbps[s] * 1000) + 80,
                        rtt_ms=80,
                    )
                ],
                next_chunk_sizes=[
                    api.ChunkSizes(bytes=[b * 500 for b in LADDER]) for _ in range(5)
                ],
            )
            t0 = time.perf_counter()
            try:
                await stub.SelectBitrate(req, timeout=5.0)
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] = errors.get(exc.code().name, 0) + 1
                return
            lat.append((time.perf_counter() - t0) * 1000)

        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(ids[n % sessions])))
        await asyncio.gather(*tasks)
    return lat


def measure(
    bootstrap: str, rate: float = 1000.0, seconds: float = 20.0, sessions: int = 200
) -> dict[str, object]:
    """Start an abr process on fresh topics, warm it up, then measure at ``rate``."""
    topics = TopicNames(f"bench-abr-grpc-{uuid.uuid4().hex[:8]}-")
    ensure_topics(bootstrap, topics.prefix)
    port = free_port()
    run_dir = ROOT / "run" / "bench-abr-grpc"
    svc = ServiceProcess(
        "abr",
        {
            "KAFKA_BOOTSTRAP": bootstrap,
            "REELSTREAM_TOPIC_PREFIX": topics.prefix,
            "ABR_GRPC_PORT": str(port),
            "ABR_METRICS_PORT": str(free_port()),
            "ABR_SNAPSHOT_DIR": str(run_dir / "state"),
            "ABR_LOG_LEVEL": "WARNING",
        },
        run_dir,
    )
    try:
        svc.wait_serving(port)

        async def phases() -> list[float]:
            # One event loop for both phases: grpc.aio binds to the loop it first runs on.
            progress("warming up the abr service")
            await drive(port, rate / 4, 3, sessions, {}, seed=1)
            progress(f"{rate:.0f} decisions/s over {sessions} sessions for {seconds:.0f} s")
            return await drive(port, rate, seconds, sessions, errors)

        errors: dict[str, int] = {}
        lat = asyncio.run(phases())
    finally:
        svc.stop()
    return {
        "decisions": len(lat),
        "rate": rate,
        "decision_p50_ms": round(percentile(lat, 50), 3),
        "decision_p99_ms": round(percentile(lat, 99), 3),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sessions", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(measure(args.bootstrap, args.rate, args.seconds, args.sessions)))


if __name__ == "__main__":
    main()
