"""Sink ingest: samples per second stored through the HTTP API, against DuckDB's Arrow insert in-process.

Eight pushers (one SinkClient each, like eight metric pods) send Arrow IPC batches of
5,005 rows (385 perf-proc samples of 13 fields) to a real ``metrics-operator sink``
subprocess on 127.0.0.1 at the same time; the figure is rows acknowledged per second,
and every acknowledgement means the batch was committed. Bodies are encoded before
the clock starts, because encoding is the pods' cost, not the sink's.

The ceiling appends the same rows to a fresh DuckDB file in this process through an
Arrow table insert, twice: all rows in one insert (DuckDB's fastest bulk path) and
one insert and commit per batch (the unit the sink acknowledges). Pushers and sink
share the machine's cores, so the HTTP figure includes the clients' own CPU time.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
from common import figure, parse_mode, ratio  # noqa: E402
from sink_server import SinkServer, file_bytes, run_document, sample_batch  # noqa: E402

from metrics_operator.containers.common.push import (  # noqa: E402
    ARROW_STREAM_TYPE,
    IDEMPOTENCY_HEADER,
    SinkClient,
    sample_columns_to_arrow_stream,
)
from metrics_operator.sink.store import Store, samples_to_arrow  # noqa: E402

PUSHERS = 8
SAMPLES_PER_BATCH = 385


def build_batches(batches_per_pusher: int) -> list[list[tuple[str, bytes, pa.Table]]]:
    """Return per pusher its batches as (idempotency key, Arrow IPC body, table in the samples layout)."""
    start_time = time.time() - 86_400
    pushers = []
    for pusher in range(PUSHERS):
        batches = []
        for index in range(batches_per_pusher):
            columns = sample_batch(f"bench-{pusher}", index * SAMPLES_PER_BATCH, SAMPLES_PER_BATCH, start_time)
            body = sample_columns_to_arrow_stream(columns)
            batches.append((str(uuid.uuid4()), body, samples_to_arrow("ingest", columns)))
        pushers.append(batches)
    return pushers


async def push_all(url: str, token: str, run_uid: str, pushers: list[list[tuple[str, bytes, pa.Table]]]) -> float:
    """Send every pusher's batches concurrently, each pusher in order; return the elapsed seconds."""
    clients = [SinkClient(url, token) for _ in pushers]
    await clients[0].register_run(run_document(run_uid, "ingest"))

    async def push(client: SinkClient, batches: list[tuple[str, bytes, pa.Table]]) -> None:
        for key, body, _ in batches:
            await client.request(
                "POST",
                f"/v1/runs/{run_uid}/samples",
                data=body,
                headers={"Content-Type": ARROW_STREAM_TYPE, IDEMPOTENCY_HEADER: key},
            )

    try:
        # Open each client's connection first, so connection set-up is not timed.
        await asyncio.gather(*(client.request("GET", "/healthz") for client in clients))
        started = time.perf_counter()
        await asyncio.gather(*(push(client, batches) for client, batches in zip(clients, pushers)))
        elapsed = time.perf_counter() - started
        stored = await clients[0].request("GET", f"/v1/runs/{run_uid}")
    finally:
        await asyncio.gather(*(client.close() for client in clients))

    expected = sum(table.num_rows for batches in pushers for _, _, table in batches)
    if stored["sampleCount"] != expected:
        raise RuntimeError(f"the sink stored {stored['sampleCount']} rows, expected {expected}")
    return elapsed


def duckdb_single_insert(path: Path, tables: list[pa.Table]) -> float:
    """Append all rows in one Arrow insert; return the seconds it took (concatenation not included)."""
    combined = pa.concat_tables(tables)
    with Store(path) as store:
        started = time.perf_counter()
        store.connection.register("rows", combined)
        store.connection.execute("INSERT INTO samples SELECT * FROM rows")
        store.connection.unregister("rows")
        return time.perf_counter() - started


def duckdb_per_batch(path: Path, tables: list[pa.Table]) -> float:
    """Append each batch in its own Arrow insert and commit; return the seconds it took."""
    with Store(path) as store:
        started = time.perf_counter()
        for table in tables:
            store.connection.register("rows", table)
            store.connection.execute("INSERT INTO samples SELECT * FROM rows")
            store.connection.unregister("rows")
        return time.perf_counter() - started


def main() -> None:
    arguments = parse_mode(__doc__.splitlines()[0])
    batches_per_pusher = 6 if arguments.quick else 40
    pushers = build_batches(batches_per_pusher)
    tables = [table for batches in pushers for _, _, table in batches]
    rows = sum(table.num_rows for table in tables)
    print(f"sink ingest: {PUSHERS} pushers x {batches_per_pusher} batches of {tables[0].num_rows} rows = {rows} rows")

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory:
        work_dir = Path(directory)
        sink_db = work_dir / "sink.duckdb"
        with SinkServer(sink_db, work_dir) as sink:
            sink_seconds = asyncio.run(push_all(sink.url, sink.token, "ingest", pushers))
        sink_bytes = file_bytes(sink_db)

        single_db = work_dir / "single.duckdb"
        single_seconds = duckdb_single_insert(single_db, tables)
        single_bytes = file_bytes(single_db)
        per_batch_seconds = duckdb_per_batch(work_dir / "per-batch.duckdb", tables)

    sink_rate = rows / sink_seconds
    single_rate = rows / single_seconds
    per_batch_rate = rows / per_batch_seconds
    figure("sink_rows_per_second", sink_rate, "rows/s")
    figure("duckdb_arrow_single_insert_rows_per_second", single_rate, "rows/s")
    figure("duckdb_arrow_insert_per_batch_rows_per_second", per_batch_rate, "rows/s")
    figure("sink_bytes_on_disk_per_sample", sink_bytes / rows, "bytes")
    figure("duckdb_bytes_on_disk_per_sample", single_bytes / rows, "bytes")
    # Higher is better for both: 1.0 means the sink stores as fast as DuckDB alone.
    ratio("sink_ingest_over_duckdb_arrow", sink_rate / single_rate)
    ratio("sink_ingest_over_duckdb_per_batch", sink_rate / per_batch_rate)


if __name__ == "__main__":
    main()
