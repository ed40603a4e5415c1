"""Query latency: a run's summary through GET /v1/runs/{uid}/summary, against the same SQL in DuckDB.

The store file gets one run of 10 million samples (quick: 1 million) and a second run
of a tenth of that, so the query has rows to skip. The rows are made by DuckDB and
loaded into the store through one Arrow insert before the sink starts. DuckDB lets
only one process open the file, so the raw query runs in this process before the sink
starts and again after it stops, and both halves count towards the raw figures.
Each side runs a few untimed warm-up queries first, so both read from a warm buffer pool.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
from common import figure, parse_mode, percentile, ratio  # noqa: E402
from sink_server import FIELDS, SinkServer  # noqa: E402

from metrics_operator.containers.common.push import SinkClient  # noqa: E402
from metrics_operator.sink.store import SUMMARY_SQL, Run, Store  # noqa: E402

RUN_UID = "query-run"
OTHER_UID = "other-run"
REQUESTS = 20
WARM_UP = 3

# Rows in the samples layout: 8 pods sampling the 13 perf-proc fields once a second.
GENERATE_SQL = """
SELECT $1 AS run_uid, 'perf-proc' AS metric, 'bench-' || (i % 8) AS pod, 'total' AS series,
       list_extract($2::VARCHAR[], 1 + (i // 8) % len($2::VARCHAR[])) AS field,
       TIMESTAMP '2026-12-01 00:00:00' + to_seconds(i // 104) AS ts,
       (i * 7919 % 10007) / 100.0 AS value
FROM range($3) AS rows(i)
"""


def fill_store(path: Path, samples: int) -> None:
    """Register both runs and append their samples through Arrow tables."""
    with Store(path) as store:
        for uid, count in ((RUN_UID, samples), (OTHER_UID, samples // 10)):
            store.upsert_run(Run(uid=uid, namespace="bench", name=uid, status="Succeeded", started_at=time.time()))
            rows = duckdb.sql(GENERATE_SQL, params=[uid, FIELDS, count]).to_arrow_table()
            store.connection.register("generated", rows)
            store.connection.execute("INSERT INTO samples SELECT * FROM generated")
            store.connection.unregister("generated")
        store.connection.execute("CHECKPOINT")


def raw_latencies(path: Path) -> list[float]:
    """Time the summary SQL on a read-only connection in this process, in seconds per query."""
    connection = duckdb.connect(str(path), read_only=True)
    try:
        for _ in range(WARM_UP):
            connection.execute(SUMMARY_SQL, [RUN_UID]).fetchall()
        latencies = []
        for _ in range(REQUESTS // 2):
            started = time.perf_counter()
            rows = connection.execute(SUMMARY_SQL, [RUN_UID]).fetchall()
            latencies.append(time.perf_counter() - started)
    finally:
        connection.close()
    if len(rows) != len(FIELDS):
        raise RuntimeError(f"the summary SQL returned {len(rows)} rows, expected one per field ({len(FIELDS)})")
    return latencies


async def sink_latencies(url: str, token: str, samples: int) -> list[float]:
    """Time GET /v1/runs/{uid}/summary end to end, one request at a time, in seconds per request."""
    async with SinkClient(url, token) as client:
        path = f"/v1/runs/{RUN_UID}/summary"
        for _ in range(WARM_UP):
            await client.request("GET", path)
        latencies = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            document = await client.request("GET", path)
            latencies.append(time.perf_counter() - started)
    counted = sum(row["count"] for row in document["summary"])
    if counted != samples:
        raise RuntimeError(f"the summary counted {counted} samples, expected {samples}")
    return latencies


def main() -> None:
    arguments = parse_mode(__doc__.splitlines()[0])
    samples = 1_000_000 if arguments.quick else 10_000_000
    print(f"query latency: summary of a run of {samples} samples, {REQUESTS} queries each way")

    with tempfile.TemporaryDirectory(prefix="bench-query-") as directory:
        work_dir = Path(directory)
        db_path = work_dir / "query.duckdb"
        started = time.perf_counter()
        fill_store(db_path, samples)
        print(f"loaded {samples + samples // 10} samples in {time.perf_counter() - started:.1f} s")

        raw = raw_latencies(db_path)
        with SinkServer(db_path, work_dir) as sink:
            served = asyncio.run(sink_latencies(sink.url, sink.token, samples))
        raw += raw_latencies(db_path)

    for name, values in (("sink", served), ("duckdb", raw)):
        figure(f"{name}_summary_p50_ms", percentile(values, 0.5) * 1000, "ms")
        figure(f"{name}_summary_p95_ms", percentile(values, 0.95) * 1000, "ms")
    # Lower is better: 1.0 means the HTTP API adds nothing to the query itself.
    ratio("query_p50_sink_over_duckdb", percentile(served, 0.5) / percentile(raw, 0.5))
    ratio("query_p95_sink_over_duckdb", percentile(served, 0.95) / percentile(raw, 0.95))


if __name__ == "__main__":
    main()
