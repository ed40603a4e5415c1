"""Compare the sink's two sample body formats: JSON columns and an Arrow IPC stream.

Run with ``.venv/bin/python test/sink/bench_wire_format.py``. It prints, per format,
the client's encoding time, the body size, and the sink's decode-and-validate time
for one 5,000-row batch (the push client's default flush size), averaged over 50 runs.
It then sends 40 such batches one after another to a sink on 127.0.0.1 (a temporary
DuckDB file) and prints the stored rows per second, encoding and commit included.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from metrics_operator.containers.common.push import sample_columns_to_arrow_stream
from metrics_operator.containers.common.writer import SampleColumns
from metrics_operator.sink.app import create_app
from metrics_operator.sink.payloads import parse_json_object, sample_table_from_arrow, sample_table_from_json
from metrics_operator.sink.state import SinkConfig

ROWS = 5000
REPEATS = 50
MAX_ROWS = 1_000_000
HTTP_BATCHES = 40


def milliseconds(operation) -> tuple[float, object]:
    """Return the mean time of ``operation`` over REPEATS calls, in ms, and its last result."""
    started = time.perf_counter()
    for _ in range(REPEATS):
        result = operation()
    return (time.perf_counter() - started) / REPEATS * 1000, result


def make_batch(rng: random.Random) -> SampleColumns:
    batch = SampleColumns()
    for index in range(ROWS):
        batch.append("perf-proc", "pod-0", "total", f"field_{index % 12}", 1796400000 + index * 0.1, rng.random() * 1e6)
    return batch


async def send_over_http(batch: SampleColumns) -> dict[str, float]:
    """Send HTTP_BATCHES copies of ``batch`` per format to a sink on 127.0.0.1; return rows/s per format."""
    throughput = {}
    with tempfile.TemporaryDirectory() as folder:
        runner = web.AppRunner(create_app(SinkConfig(db_path=Path(folder) / "bench.duckdb")))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                await http.post(url + "/v1/runs", json={"uid": "bench", "namespace": "bench", "name": "bench"})
                for name, content_type, encode in (
                    ("JSON", "application/json", lambda: json.dumps(batch.to_dict()).encode()),
                    ("Arrow IPC", "application/vnd.apache.arrow.stream", lambda: sample_columns_to_arrow_stream(batch)),
                ):
                    started = time.perf_counter()
                    for index in range(HTTP_BATCHES):
                        headers = {"Content-Type": content_type, "Idempotency-Key": f"{name}-{index}".replace(" ", "-")}
                        response = await http.post(f"{url}/v1/runs/bench/samples", data=encode(), headers=headers)
                        assert response.status == 200, await response.text()
                    throughput[name] = HTTP_BATCHES * ROWS / (time.perf_counter() - started)
        finally:
            await runner.cleanup()
    return throughput


def main() -> None:
    batch = make_batch(random.Random(1))

    json_encode, json_body = milliseconds(lambda: json.dumps(batch.to_dict()).encode())
    arrow_encode, arrow_body = milliseconds(lambda: sample_columns_to_arrow_stream(batch))
    json_decode, _ = milliseconds(lambda: sample_table_from_json(parse_json_object(json_body), MAX_ROWS))
    arrow_decode, _ = milliseconds(lambda: sample_table_from_arrow(arrow_body, MAX_ROWS))

    print(f"{ROWS} rows   encode ms   body bytes   sink decode+validate ms")
    print(f"JSON        {json_encode:9.2f}   {len(json_body):10d}   {json_decode:9.2f}")
    print(f"Arrow IPC   {arrow_encode:9.2f}   {len(arrow_body):10d}   {arrow_decode:9.2f}")

    for name, rows_per_second in asyncio.run(send_over_http(batch)).items():
        print(f"{name}: {HTTP_BATCHES} batches over HTTP, {rows_per_second:,.0f} rows/s stored")


if __name__ == "__main__":
    main()
