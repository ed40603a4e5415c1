"""The DuckDB store behind local mode and the sink service.

Three tables: ``runs`` (one row per MetricSet run), ``samples`` (time series, one row
per field value) and ``results`` (one-off JSON documents such as a fio report).
Samples are bulk-loaded through Arrow: on a 2-core machine DuckDB's ``executemany``
stored about 1,000 rows/s against millions of rows/s for an Arrow table insert.

A Store is synchronous and not thread-safe: callers on an event loop run it in a
worker thread and serialise access (local mode and the sink service both do).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from metrics_operator.containers.common.writer import ResultRow, SampleColumns

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    uid VARCHAR PRIMARY KEY,
    namespace VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    spec JSON,
    status VARCHAR NOT NULL,
    message VARCHAR,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    run_uid VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    pod VARCHAR NOT NULL,
    series VARCHAR NOT NULL,
    field VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    value DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_uid VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    pod VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    data JSON NOT NULL
);
"""

RUN_STATUSES = ("Pending", "Running", "Succeeded", "Failed")

SUMMARY_SQL = """
SELECT metric, field, count(*) AS count, min(value) AS min, avg(value) AS mean, max(value) AS max,
       quantile_cont(value, 0.5) AS p50, quantile_cont(value, 0.95) AS p95, quantile_cont(value, 0.99) AS p99
FROM samples WHERE run_uid = ?
GROUP BY metric, field ORDER BY metric, field
"""

SUMMARY_STATISTICS = ("count", "min", "mean", "max", "p50", "p95", "p99")


def utc_datetime(timestamp: float | None) -> datetime | None:
    """A naive UTC datetime, the form the TIMESTAMP columns store."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.replace(tzinfo=timezone.utc).timestamp()


@dataclass
class Run:
    """One run of a MetricSet. Times are Unix seconds (UTC)."""

    uid: str
    namespace: str
    name: str
    status: str = "Running"
    spec: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    updated_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "namespace": self.namespace,
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "updatedAt": self.updated_at,
            "spec": self.spec,
        }


def samples_to_arrow(run_uid: str, samples: SampleColumns) -> pa.Table:
    """Convert a columnar batch to the Arrow layout of the samples table."""
    count = len(samples)
    timestamps = pc.cast(
        pc.round(pc.multiply(pa.array(samples.timestamp, pa.float64()), 1_000_000)), pa.int64()
    ).cast(pa.timestamp("us"))
    return pa.table(
        {
            "run_uid": pa.array([run_uid] * count, pa.string()),
            "metric": pa.array(samples.metric, pa.string()),
            "pod": pa.array(samples.pod, pa.string()),
            "series": pa.array(samples.series, pa.string()),
            "field": pa.array(samples.field, pa.string()),
            "ts": timestamps,
            "value": pa.array(samples.value, pa.float64()),
        }
    )


class Store:
    """A DuckDB database file holding runs, samples and results."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        config = {
            # Queries run user-supplied filters; they may only see this database.
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(self.path), read_only=read_only, config=config)
        self.lock = threading.RLock()
        if not read_only:
            self.connection.execute(SCHEMA)
        log.debug("opened store %s", self.path)

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Writes

    def upsert_run(self, run: Run) -> None:
        """Create the run, or update every field of an existing one."""
        now = datetime.now(timezone.utc).timestamp()
        run.updated_at = now
        with self.lock:
            self.connection.execute(
                """
                INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (uid) DO UPDATE SET
                    namespace = excluded.namespace, name = excluded.name, spec = excluded.spec,
                    status = excluded.status, message = excluded.message,
                    started_at = excluded.started_at, ended_at = excluded.ended_at,
                    updated_at = excluded.updated_at
                """,
                [
                    run.uid,
                    run.namespace,
                    run.name,
                    json.dumps(run.spec),
                    run.status,
                    run.message,
                    utc_datetime(run.started_at),
                    utc_datetime(run.ended_at),
                    utc_datetime(now),
                ],
            )

    def insert(self, run_uid: str, samples: SampleColumns, results: list[ResultRow]) -> int:
        """Store a batch of samples and results in one transaction; returns the sample rows stored."""
        with self.lock:
            cursor = self.connection
            cursor.execute("BEGIN TRANSACTION")
            try:
                self._insert_samples(run_uid, samples)
                if results:
                    # A handful of JSON documents per batch, so executemany is fast enough here.
                    cursor.executemany(
                        "INSERT INTO results VALUES (?, ?, ?, ?, ?)",
                        [
                            [run_uid, row.metric, row.pod, utc_datetime(row.timestamp), json.dumps(row.data)]
                            for row in results
                        ],
                    )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return len(samples)

    def _insert_samples(self, run_uid: str, samples: SampleColumns) -> None:
        if not len(samples):
            return
        batch = samples_to_arrow(run_uid, samples)
        self.connection.register("sample_batch", batch)
        try:
            self.connection.execute("INSERT INTO samples SELECT * FROM sample_batch")
        finally:
            self.connection.unregister("sample_batch")

    # Reads

    def get_run(self, uid: str) -> Run | None:
        runs = self.list_runs(uid=uid)
        return runs[0] if runs else None

    def list_runs(
        self,
        *,
        uid: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs matching every given filter, newest first; times filter on the start time."""
        conditions, parameters = [], []
        for column, value in (("uid", uid), ("name", name), ("namespace", namespace), ("status", status)):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        if since is not None:
            conditions.append("started_at >= ?")
            parameters.append(utc_datetime(since))
        if until is not None:
            conditions.append("started_at < ?")
            parameters.append(utc_datetime(until))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = (
            "SELECT uid, namespace, name, spec, status, message, started_at, ended_at, updated_at "
            f"FROM runs {where} ORDER BY started_at DESC NULLS LAST, uid"
        )
        if limit is not None:
            query += " LIMIT ?"
            parameters.append(int(limit))
        with self.lock:
            rows = self.connection.execute(query, parameters).fetchall()
        return [
            Run(
                uid=row[0],
                namespace=row[1],
                name=row[2],
                spec=json.loads(row[3]) if row[3] else {},
                status=row[4],
                message=row[5],
                started_at=_epoch(row[6]),
                ended_at=_epoch(row[7]),
                updated_at=_epoch(row[8]),
            )
            for row in rows
        ]

    def summary(self, run_uid: str) -> list[dict[str, Any]]:
        """Per metric and field: count, min, mean, max, p50, p95 and p99 of the run's samples."""
        with self.lock:
            rows = self.connection.execute(SUMMARY_SQL, [run_uid]).fetchall()
        return [
            {"metric": row[0], "field": row[1], **dict(zip(SUMMARY_STATISTICS, row[2:]))} for row in rows
        ]

    def samples(
        self,
        run_uid: str,
        *,
        metric: str | None = None,
        field: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> pa.Table:
        """The run's samples as an Arrow table, ordered by time."""
        conditions, parameters = ["run_uid = ?"], [run_uid]
        for column, value in (("metric", metric), ("field", field)):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        if since is not None:
            conditions.append("ts >= ?")
            parameters.append(utc_datetime(since))
        if until is not None:
            conditions.append("ts < ?")
            parameters.append(utc_datetime(until))
        query = (
            "SELECT metric, pod, series, field, ts, value FROM samples "
            f"WHERE {' AND '.join(conditions)} ORDER BY ts, metric, pod, series, field"
        )
        with self.lock:
            return self.connection.execute(query, parameters).fetch_arrow_table()

    def results(self, run_uid: str, metric: str | None = None) -> list[dict[str, Any]]:
        """The run's one-off results, oldest first."""
        query = "SELECT metric, pod, ts, data FROM results WHERE run_uid = ?"
        parameters: list[Any] = [run_uid]
        if metric is not None:
            query += " AND metric = ?"
            parameters.append(metric)
        with self.lock:
            rows = self.connection.execute(query + " ORDER BY ts", parameters).fetchall()
        return [
            {"metric": row[0], "pod": row[1], "timestamp": _epoch(row[2]), "data": json.loads(row[3])} for row in rows
        ]

    def sample_count(self, run_uid: str | None = None) -> int:
        query, parameters = "SELECT count(*) FROM samples", []
        if run_uid is not None:
            query += " WHERE run_uid = ?"
            parameters.append(run_uid)
        with self.lock:
            return int(self.connection.execute(query, parameters).fetchone()[0])


class StoreDestination:
    """Writes a collector's batches into a local Store from an event loop."""

    def __init__(self, store: Store, run_uid: str):
        self.store = store
        self.run_uid = run_uid

    async def write(self, samples: SampleColumns, results: list[ResultRow]) -> None:
        await asyncio.to_thread(self.store.insert, self.run_uid, samples, results)
