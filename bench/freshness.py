"""Freshness: time from a sample being taken to it being readable through GET /v1/runs/{uid}/samples.

A SampleWriter with the real push client (PushDestination) takes 20 samples a second of
perf-proc's 13 fields, like 20 processes sampled once a second, and sends a batch
whenever 1,300 rows are buffered, every 5 s. A reader polls ``samples?since=`` every
10 ms and notes when each sample timestamp first appears, so figures carry up to
10 ms of polling delay plus the time of one poll.

Two figures: freshness (sample timestamp to first read) is bounded below by the
writer's buffering, so its p95 is reported as a ratio to the flush interval. Delivery
(a batch's newest sample to its first read, so the time from flush to readable) is
reported as a ratio to the HTTP round-trip floor, the p50 of GET /healthz.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import figure, parse_mode, percentile, ratio  # noqa: E402
from sink_server import FIELDS, SinkServer, run_document  # noqa: E402

from metrics_operator.containers.common.push import PushDestination, SinkClient  # noqa: E402
from metrics_operator.containers.common.writer import SampleColumns, SampleWriter  # noqa: E402

RUN_UID = "freshness-run"
SAMPLES_PER_SECOND = 20
FLUSH_ROWS = 1300
POLL_SECONDS = 0.01
ROUND_TRIPS = 50


class RecordingDestination:
    """A PushDestination that notes the newest sample timestamp of every batch it is handed."""

    def __init__(self, destination: PushDestination):
        self.destination = destination
        self.newest_per_batch: list[float] = []

    async def write(self, samples: SampleColumns, results) -> None:
        if len(samples):
            self.newest_per_batch.append(max(samples.timestamp))
        await self.destination.write(samples, results)


async def take_samples(writer: SampleWriter, seconds: float) -> None:
    """Add SAMPLES_PER_SECOND samples a second for ``seconds``, then flush the rest."""
    generator = random.Random(1)
    interval = 1.0 / SAMPLES_PER_SECOND
    count = int(seconds * SAMPLES_PER_SECOND)
    started = time.monotonic()
    for index in range(count):
        values = {name: generator.uniform(0, 100) for name in FIELDS}
        writer.add_sample("perf-proc", values, series=f"process-{index % SAMPLES_PER_SECOND}")
        await writer.maybe_flush()
        await asyncio.sleep(max(0.0, started + (index + 1) * interval - time.monotonic()))
    await writer.flush()


async def poll_samples(client: SinkClient, expected: int, deadline: float) -> dict[float, float]:
    """Poll until ``expected`` distinct timestamps were read or ``deadline`` passes; return first-read times."""
    first_read: dict[float, float] = {}
    since = 0.0
    while len(first_read) < expected and time.monotonic() < deadline:
        document = await client.request("GET", f"/v1/runs/{RUN_UID}/samples?since={since!r}")
        read_at = time.time()
        for timestamp in document["timestamp"]:
            first_read.setdefault(timestamp, read_at)
        if document["timestamp"]:
            since = max(document["timestamp"])
        await asyncio.sleep(POLL_SECONDS)
    if len(first_read) < expected:
        raise RuntimeError(f"read {len(first_read)} of {expected} samples before the deadline")
    return first_read


async def http_round_trips(client: SinkClient) -> list[float]:
    latencies = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        await client.request("GET", "/healthz")
        latencies.append(time.perf_counter() - started)
    return latencies


async def measure(url: str, token: str, seconds: float) -> tuple[list[float], list[float], list[float]]:
    """Run the writer and the reader together; return freshness, delivery and round-trip seconds."""
    async with SinkClient(url, token) as pusher, SinkClient(url, token) as reader:
        await pusher.register_run(run_document(RUN_UID, "freshness"))
        round_trips = await http_round_trips(reader)

        recording = RecordingDestination(PushDestination(pusher, RUN_UID))
        writer = SampleWriter(recording, "bench-0", flush_rows=FLUSH_ROWS)
        expected = int(seconds * SAMPLES_PER_SECOND)
        polling = asyncio.create_task(poll_samples(reader, expected, time.monotonic() + seconds + 60))
        try:
            await take_samples(writer, seconds)
            first_read = await polling
        finally:
            polling.cancel()
            await recording.destination.close()

    freshness = [moment - timestamp for timestamp, moment in first_read.items()]
    delivery = [first_read_of(read_at_microsecond(first_read), newest) - newest for newest in recording.newest_per_batch]
    return freshness, delivery, round_trips


def read_at_microsecond(first_read: dict[float, float]) -> dict[int, float]:
    """Key first-read times by whole microseconds, the resolution of the store's timestamps."""
    return {round(timestamp * 1_000_000): moment for timestamp, moment in first_read.items()}


def first_read_of(read_at: dict[int, float], timestamp: float) -> float:
    # Converting seconds to microseconds and back can be off by one in the last digit.
    microseconds = round(timestamp * 1_000_000)
    for candidate in (microseconds, microseconds - 1, microseconds + 1):
        if candidate in read_at:
            return read_at[candidate]
    raise RuntimeError(f"sample timestamp {timestamp} was never read back")


def main() -> None:
    arguments = parse_mode(__doc__.splitlines()[0])
    seconds = 20.0 if arguments.quick else 120.0
    flush_interval = FLUSH_ROWS / (SAMPLES_PER_SECOND * len(FIELDS))
    print(f"freshness: {SAMPLES_PER_SECOND} samples/s for {seconds:g} s, a batch every {flush_interval:g} s")

    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as directory:
        work_dir = Path(directory)
        with SinkServer(work_dir / "freshness.duckdb", work_dir) as sink:
            freshness, delivery, round_trips = asyncio.run(measure(sink.url, sink.token, seconds))

    freshness_p95 = percentile(freshness, 0.95)
    delivery_p95 = percentile(delivery, 0.95)
    round_trip_p50 = percentile(round_trips, 0.5)
    figure("freshness_p50_seconds", percentile(freshness, 0.5), "s")
    figure("freshness_p95_seconds", freshness_p95, "s")
    figure("flush_interval_seconds", flush_interval, "s")
    figure("delivery_p95_ms", delivery_p95 * 1000, "ms")
    figure("http_round_trip_p50_ms", round_trip_p50 * 1000, "ms")
    # Lower is better for both. Freshness cannot go below the buffering, so about 1.0 is the floor there.
    ratio("freshness_p95_over_flush_interval", freshness_p95 / flush_interval)
    ratio("delivery_p95_over_http_round_trip", delivery_p95 / round_trip_p50)


if __name__ == "__main__":
    main()
