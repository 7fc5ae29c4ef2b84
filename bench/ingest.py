"""bench-ingest: many simulated players stream batches through gRPC into Kafka.

One telemetry process (as deployed) on the local broker; a load generator with
``--players`` concurrent streams, each sending ``--batch``-event batches with a
window of in-flight batches; then it reads the topic back and counts lost and
duplicated events by event id. In the same run it measures the raw
confluent-kafka producer (same producer settings, same serialized events, same
broker): the practical limit, so ``ratio`` is measured under the same noise.

Run: ``make bench-ingest`` (starts local Kafka first). Last stdout line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import grpc
from confluent_kafka import Consumer, Producer

from bench.common import ROOT, ServiceProcess, emit, free_port, percentile, progress
from reelstream.common.v1 import types_pb2
from reelstream.platform.producer import producer_config
from reelstream.platform.topics import TopicNames, ensure_topics
from reelstream.playback.v1 import events_pb2 as pb
from reelstream.telemetry.v1 import telemetry_pb2 as api

KINDS = ("chunk", "heartbeat", "play", "complete")


def make_batches(n_events: int, batch: int, run_id: str) -> list[bytes]:
    """Serialized EventBatch messages with realistic, unique events (built before timing)."""
    now = int(time.time() * 1000)
    client = pb.ClientInfo(
        device_type=types_pb2.DEVICE_TYPE_TV,
        region="NO",
        app_version="3.2.1",
        network_type=types_pb2.NETWORK_TYPE_WIFI,
        device_id="dev-1",
    )
    out = []
    for b in range(0, n_events, batch):
        events = []
        for i in range(b, min(b + batch, n_events)):
            user = f"user-{i % 5000}"
            ev = pb.PlaybackEvent(
                event_id=f"{run_id}-{i}",
                user_id=user,
                session_id=f"s-{user}",
                title_id=f"title-{i % 997}",
                event_time_ms=now,
                client=client,
            )
            kind = KINDS[i % 4]
            if kind == "chunk":
                ev.chunk_downloaded.CopyFrom(
                    pb.ChunkDownloaded(
                        chunk_index=i % 48,
                        bitrate_kbps=2850,
                        rung=4,
                        bytes=1_425_000,
                        download_ms=640.0,
                        buffer_after_s=18.5,
                        rtt_ms=80.0,
                    )
                )
            elif kind == "heartbeat":
                ev.heartbeat.CopyFrom(
                    pb.Heartbeat(
                        position_s=312.0, buffer_s=18.0, bitrate_kbps=2850, throughput_kbps=9100.0
                    )
                )
            elif kind == "play":
                ev.play.CopyFrom(
                    pb.Play(position_s=0.0, source_row_id="row-trending", source_position=3)
                )
            else:
                ev.complete.CopyFrom(pb.Complete(position_s=2700.0, duration_s=2700.0))
            events.append(ev)
        out.append(api.EventBatch(batch_id=f"b{b}", events=events).SerializeToString())
    return out


async def drive(
    port: int, batches: list[bytes], players: int, window: int
) -> tuple[float, list[float], int]:
    """Send every batch over ``players`` streams; return (seconds, ack latencies ms, accepted)."""
    latencies: list[float] = []
    accepted = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)

    async def player(channel: grpc.aio.Channel) -> None:
        nonlocal accepted
        call = channel.stream_stream(
            "/reelstream.telemetry.v1.TelemetryService/StreamEvents",
            request_serializer=None,
            response_deserializer=api.BatchAck.FromString,
        )()
        sent_at: asyncio.Queue[float] = asyncio.Queue()
        slots = asyncio.Semaphore(window)

        async def reader() -> None:
            nonlocal accepted
            async for ack in call:
                t0 = await sent_at.get()
                latencies.append((time.perf_counter() - t0) * 1000)
                accepted += ack.accepted
                slots.release()

        rtask = asyncio.ensure_future(reader())
        while not queue.empty():
            data = queue.get_nowait()
            await slots.acquire()
            sent_at.put_nowait(time.perf_counter())
            await call.write(data)
        await call.done_writing()
        await rtask

    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(max(1, players // 8))]
    t0 = time.perf_counter()
    await asyncio.gather(*(player(channels[i % len(channels)]) for i in range(players)))
    elapsed = time.perf_counter() - t0
    for ch in channels:
        await ch.close()
    return elapsed, latencies, accepted


def count_in_kafka(bootstrap: str, topic: str, expect: int, run_id: str) -> tuple[int, int]:
    """Read the topic back; return (distinct event ids of this run, duplicated records)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"count-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    ids: Counter[str] = Counter()
    total = 0
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < (3.0 if total >= expect else 20.0):
        msgs = consumer.consume(10_000, timeout=0.5)
        if msgs:
            idle_since = time.monotonic()
        for m in msgs:
            if m.error() is None:
                total += 1
                event_id = pb.PlaybackEvent.FromString(m.value() or b"").event_id
                if event_id.startswith(run_id):
                    ids[event_id] += 1
        if total and total % 200_000 < 10_000:
            progress(f"read back {total:,} / {expect:,}")
    consumer.close()
    dups = sum(c - 1 for c in ids.values() if c > 1)
    return len(ids), dups


def raw_producer_rate(bootstrap: str, topic: str, batches: list[bytes]) -> float:
    """Events/s of a bare confluent-kafka producer with telemetry's settings, same events."""
    records = []
    for data in batches:
        for ev in api.EventBatch.FromString(data).events:
            records.append((ev.user_id.encode(), ev.SerializeToString()))
    producer = Producer(producer_config(bootstrap, "raw-bench", 30_000))
    delivered = 0

    def on_delivery(err: object, _msg: object) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1

    t0 = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - t0
    if delivered != len(records):
        raise RuntimeError(f"raw producer delivered {delivered} of {len(records)}")
    return len(records) / elapsed


def profile_table(raw: Path, top: int = 15) -> str:
    """Markdown table of where the telemetry process spent its samples (py-spy raw output)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        total += int(n)
        own[frames[-1]] += int(n)
        for f in set(frames):
            inclusive[f] += int(n)
    rows = ["| share of samples (own) | function (file:line) |", "|---|---|"]
    rows += [f"| {n / total:.1%} | `{f[:110]}` |" for f, n in own.most_common(top)]
    rows += ["", "| share of samples (inclusive) | function |", "|---|---|"]
    rows += [f"| {n / total:.1%} | `{f[:110]}` |" for f, n in inclusive.most_common(top + 10)[8:]]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--players", type=int, default=16)
    parser.add_argument("--window", type=int, default=2, help="in-flight batches per stream")
    parser.add_argument(
        "--profile", action="store_true", help="sample the telemetry process with py-spy"
    )
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:8]
    topics = TopicNames(f"bench-ingest-{run_id}-")
    raw_topics = TopicNames(f"bench-raw-{run_id}-")
    ensure_topics(args.bootstrap, topics.prefix)
    ensure_topics(args.bootstrap, raw_topics.prefix)
    progress(f"building {args.events:,} events in batches of {args.batch}")
    batches = make_batches(args.events, args.batch, run_id)

    port = free_port()
    profile_raw = ROOT / "run" / "bench-ingest" / "profile.txt"
    svc = ServiceProcess(
        "telemetry",
        {
            "KAFKA_BOOTSTRAP": args.bootstrap,
            "REELSTREAM_TOPIC_PREFIX": topics.prefix,
            "TELEMETRY_GRPC_PORT": str(port),
            "TELEMETRY_METRICS_PORT": str(free_port()),
            "TELEMETRY_LOG_LEVEL": "WARNING",
        },
        ROOT / "run" / "bench-ingest",
    )
    try:
        svc.wait_serving(port)
        warm = make_batches(max(args.batch, args.events // 50), args.batch, f"warm-{run_id}")

        async def phases() -> tuple[float, list[float], int]:
            # One event loop for both phases: grpc.aio binds to the loop it first runs on.
            progress("warming up")
            await drive(port, warm, args.players, args.window)
            progress(f"streaming {args.events:,} events from {args.players} players")
            if args.profile:
                spy = await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(svc.proc.pid),
                    "-d",
                    "8",
                    "-f",
                    "raw",
                    "-o",
                    str(profile_raw),
                    "--nonblocking",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                result = await drive(port, batches, args.players, args.window)
                await spy.wait()
                return result
            return await drive(port, batches, args.players, args.window)

        elapsed, lat, accepted = asyncio.run(phases())
    finally:
        svc.stop()
    rate = args.events / elapsed
    progress(f"ingest: {rate:,.0f} events/s, ack p99 {percentile(lat, 99):.1f} ms")
    in_kafka, duplicated = count_in_kafka(
        args.bootstrap, topics.playback, args.events + max(args.batch, args.events // 50), run_id
    )
    sent_ids = args.events
    lost = sent_ids - in_kafka
    progress("measuring the raw producer on the same broker")
    raw = raw_producer_rate(args.bootstrap, raw_topics.playback, batches)
    result = {
        "events_sent": sent_ids,
        "events_acked": accepted,
        "events_in_kafka": in_kafka,
        "lost": lost,
        "duplicated": duplicated,
        "events_per_s": round(rate),
        "raw_producer_events_per_s": round(raw),
        "ratio": round(rate / raw, 3),
        "ack_p50_ms": round(percentile(lat, 50), 2),
        "ack_p99_ms": round(percentile(lat, 99), 2),
        "players": args.players,
        "batch": args.batch,
    }
    report = f"""# bench-ingest

`python -m bench.ingest --events {args.events} --batch {args.batch} --players {args.players} --window {args.window}`

One telemetry process, {args.players} player streams of {args.batch}-event batches ({args.window} in flight
per stream), local single-node Kafka (acks=all, idempotent producer), same 2-core machine.

| metric | value |
|---|---|
| events sent / acked / distinct in Kafka | {sent_ids:,} / {accepted:,} / {in_kafka:,} |
| lost / duplicated | {lost} / {duplicated} |
| telemetry throughput | {rate:,.0f} events/s |
| raw confluent-kafka producer, same events | {raw:,.0f} events/s |
| ratio | {rate / raw:.3f} |
| batch ack latency p50 / p99 | {percentile(lat, 50):.1f} / {percentile(lat, 99):.1f} ms |
"""
    if args.profile and profile_raw.exists():
        report += (
            "\n## Where telemetry's time goes (py-spy, 8 s under load)\n\n"
            + profile_table(profile_raw)
            + "\n"
        )
    emit(result, "ingest.md", report)


if __name__ == "__main__":
    main()
