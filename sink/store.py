"""The DuckDB store behind local mode and the sink service.

Four tables: ``runs`` (one row per MetricSet run), ``samples`` (time series, one row
per field value), ``results`` (one-off JSON documents such as a fio report) and
``ingested_batches`` (the idempotency key of every batch the sink stored).
Samples are bulk-loaded through Arrow: on a 2-core machine DuckDB's ``executemany``
stored about 1,000 rows/s against millions of rows/s for an Arrow table insert.

A Store is synchronous: callers on an event loop run it in a worker thread, and its
lock serialises the calls on its connection. A thread that only reads can take its
own cursor with ``Store.reader()`` instead, so it does not wait for writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from metrics_operator.containers.common.writer import ResultRow, SampleColumns

log = logging.getLogger(__name__)

T = TypeVar("T")

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
CREATE TABLE IF NOT EXISTS ingested_batches (
    run_uid VARCHAR NOT NULL,
    idempotency_key VARCHAR NOT NULL,
    sample_rows BIGINT NOT NULL,
    result_rows BIGINT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_uid, idempotency_key)
);
"""

# Ordered by precedence: when pods report different statuses for one run, the later
# entry wins, so a run that failed once never goes back to Running or Succeeded.
RUN_STATUSES = ("Pending", "Running", "Succeeded", "Failed")
COMPLETED_STATUSES = ("Succeeded", "Failed")

# Merges a report of a run into the stored row: the status with the higher precedence,
# the earliest start, the latest end, and the message of the winning status when set.
MERGE_RUN_SQL = """
INSERT INTO runs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (uid) DO UPDATE SET
    spec = coalesce(excluded.spec, runs.spec),
    status = CASE WHEN list_position($10::VARCHAR[], excluded.status) > list_position($10::VARCHAR[], runs.status)
                  THEN excluded.status ELSE runs.status END,
    message = CASE WHEN list_position($10::VARCHAR[], excluded.status) >= list_position($10::VARCHAR[], runs.status)
                   THEN coalesce(excluded.message, runs.message) ELSE coalesce(runs.message, excluded.message) END,
    started_at = least(runs.started_at, excluded.started_at),
    ended_at = greatest(runs.ended_at, excluded.ended_at),
    updated_at = excluded.updated_at
"""

# Series stay apart because they measure different things (fio profiles, iperf3 directions);
# pods are pooled, because the pods of one MetricSet run the same workload.
SUMMARY_SQL = """
SELECT metric, series, field, count(*) AS count, min(value) AS min, avg(value) AS mean, max(value) AS max,
       quantile_cont(value, 0.5) AS p50, quantile_cont(value, 0.95) AS p95, quantile_cont(value, 0.99) AS p99
FROM samples WHERE run_uid = ?
GROUP BY metric, series, field ORDER BY metric, series, field
"""

SUMMARY_STATISTICS = ("count", "min", "mean", "max", "p50", "p95", "p99")


def utc_datetime(timestamp: float | None) -> datetime | None:
    """Convert Unix seconds to a naive UTC datetime, the form the TIMESTAMP columns store."""
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


# The columns of a sample batch on the wire, as in SampleColumns.to_arrow().
SAMPLE_COLUMN_TYPES = {
    "metric": pa.string(),
    "pod": pa.string(),
    "series": pa.string(),
    "field": pa.string(),
    "timestamp": pa.float64(),
    "value": pa.float64(),
}


@dataclass(frozen=True)
class BatchInsert:
    """One batch the sink received: the rows of one run under one idempotency key."""

    run_uid: str
    idempotency_key: str
    samples: SampleColumns | pa.Table
    results: list[ResultRow]


class UnknownRun(KeyError):
    """Raised when a batch names a run that was never registered."""


class RunConflict(ValueError):
    """Raised when a run's uid is already registered for another MetricSet."""


def samples_to_arrow(run_uid: str, samples: SampleColumns | pa.Table) -> pa.Table:
    """Convert a columnar batch (SampleColumns, or Arrow in its layout) to the samples table's layout."""
    columns = samples.to_arrow() if isinstance(samples, SampleColumns) else samples
    count = columns.num_rows
    # Unix seconds as float become microsecond timestamps, the resolution of TIMESTAMP.
    timestamps = pc.cast(
        pc.round(pc.multiply(columns.column("timestamp").cast(pa.float64()), 1_000_000)), pa.int64()
    ).cast(pa.timestamp("us"))
    return pa.table(
        {
            "run_uid": pa.array([run_uid] * count, pa.string()),
            "metric": columns.column("metric").cast(pa.string()),
            "pod": columns.column("pod").cast(pa.string()),
            "series": columns.column("series").cast(pa.string()),
            "field": columns.column("field").cast(pa.string()),
            "ts": timestamps,
            "value": columns.column("value").cast(pa.float64()),
        }
    )


def _run_from_row(row: tuple) -> Run:
    return Run(
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


def _add_time_range(
    column: str, since: float | None, until: float | None, conditions: list[str], parameters: list[Any]
) -> None:
    """Add ``since <= column < until`` (Unix seconds, either end optional) to a WHERE clause."""
    if since is not None:
        conditions.append(f"{column} >= ?")
        parameters.append(utc_datetime(since))
    if until is not None:
        conditions.append(f"{column} < ?")
        parameters.append(utc_datetime(until))


RUN_COLUMNS = "uid, namespace, name, spec, status, message, started_at, ended_at, updated_at"

# The latest completed run of each MetricSet, most recently ended first, at most $1 of them,
# with the summary statistics of each of its metric fields.
LATEST_SUMMARIES_SQL = f"""
WITH latest AS (
    SELECT uid, namespace, name, status, ended_at FROM runs
    WHERE list_contains($2::VARCHAR[], status)
    QUALIFY row_number() OVER (PARTITION BY namespace, name ORDER BY ended_at DESC NULLS LAST, uid) = 1
    ORDER BY ended_at DESC NULLS LAST, namespace, name
    LIMIT $1
)
SELECT latest.namespace, latest.name, latest.uid, latest.status, samples.metric, samples.series, samples.field,
       count(*), min(value), avg(value), max(value),
       quantile_cont(value, 0.5), quantile_cont(value, 0.95), quantile_cont(value, 0.99)
FROM latest JOIN samples ON samples.run_uid = latest.uid
GROUP BY ALL ORDER BY ALL
"""

COMPLETED_METRICSETS_SQL = """
SELECT count(*) FROM (SELECT DISTINCT namespace, name FROM runs WHERE list_contains($1::VARCHAR[], status))
"""


@dataclass(frozen=True)
class RunSummary:
    """Summary statistics of one metric field of the latest completed run of a MetricSet."""

    namespace: str
    name: str
    uid: str
    status: str
    metric: str
    series: str
    field: str
    statistics: dict[str, float]


class StoreReads:
    """Read queries, shared by a Store and by the cursors it hands to reader threads."""

    connection: duckdb.DuckDBPyConnection
    lock: threading.RLock

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
        _add_time_range("started_at", since, until, conditions, parameters)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC NULLS LAST, uid"
        if limit is not None:
            query += " LIMIT ?"
            parameters.append(int(limit))
        with self.lock:
            rows = self.connection.execute(query, parameters).fetchall()
        return [_run_from_row(row) for row in rows]

    def summary(self, run_uid: str) -> list[dict[str, Any]]:
        """Per metric, series and field: count, min, mean, max, p50, p95 and p99 of the run's samples."""
        with self.lock:
            rows = self.connection.execute(SUMMARY_SQL, [run_uid]).fetchall()
        return [
            {"metric": row[0], "series": row[1], "field": row[2], **dict(zip(SUMMARY_STATISTICS, row[3:]))}
            for row in rows
        ]

    def latest_completed_summaries(self, max_metricsets: int) -> list[RunSummary]:
        """Summaries of the latest completed run of each MetricSet, for at most ``max_metricsets`` MetricSets."""
        with self.lock:
            rows = self.connection.execute(LATEST_SUMMARIES_SQL, [max_metricsets, list(COMPLETED_STATUSES)]).fetchall()
        return [
            RunSummary(
                namespace=row[0],
                name=row[1],
                uid=row[2],
                status=row[3],
                metric=row[4],
                series=row[5],
                field=row[6],
                statistics=dict(zip(SUMMARY_STATISTICS, row[7:])),
            )
            for row in rows
        ]

    def completed_metricset_count(self) -> int:
        """Number of MetricSets with at least one completed run."""
        with self.lock:
            return int(self.connection.execute(COMPLETED_METRICSETS_SQL, [list(COMPLETED_STATUSES)]).fetchone()[0])

    def samples(
        self,
        run_uid: str,
        *,
        metric: str | None = None,
        field: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> pa.Table:
        """Return the run's samples as an Arrow table, ordered by time."""
        conditions, parameters = ["run_uid = ?"], [run_uid]
        for column, value in (("metric", metric), ("field", field)):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        _add_time_range("ts", since, until, conditions, parameters)
        query = (
            "SELECT metric, pod, series, field, ts, value FROM samples "
            f"WHERE {' AND '.join(conditions)} ORDER BY ts, metric, pod, series, field"
        )
        with self.lock:
            return self.connection.sql(query, params=parameters).to_arrow_table()

    def results(self, run_uid: str, metric: str | None = None) -> list[dict[str, Any]]:
        """Return the run's one-off results, oldest first."""
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


class StoreReader(StoreReads):
    """A cursor on a Store for one reader thread, so reads need not wait for the Store's lock.

    A DuckDB cursor is a separate connection to the same database: it reads a
    consistent snapshot while the Store's connection writes in another thread.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection):
        self.connection = connection
        self.lock = threading.RLock()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Store(StoreReads):
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

    def reader(self) -> StoreReader:
        """Open a cursor for reads from another thread; close it when done."""
        with self.lock:
            return StoreReader(self.connection.cursor())

    def size_bytes(self) -> int:
        """Size of the database file and its write-ahead log, in bytes."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

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
                self._run_parameters(run, now),
            )

    def merge_run(self, run: Run) -> Run:
        """Register the run, or merge this report into the stored one; return the stored run.

        Several containers of several pods report one run, so nothing a report leaves
        out (spec, message, times) erases what another stored. Raises RunConflict when
        the uid already belongs to another MetricSet.
        """
        now = datetime.now(timezone.utc).timestamp()
        parameters = self._run_parameters(run, now)
        # An empty spec is "not given", not "erase the spec".
        parameters[3] = json.dumps(run.spec) if run.spec else None
        with self.lock:
            cursor = self.connection
            cursor.execute("BEGIN TRANSACTION")
            try:
                existing = cursor.execute("SELECT namespace, name FROM runs WHERE uid = ?", [run.uid]).fetchone()
                if existing is not None and tuple(existing) != (run.namespace, run.name):
                    raise RunConflict(
                        f"run uid {run.uid!r} is registered for MetricSet {existing[0]}/{existing[1]}, "
                        f"not {run.namespace}/{run.name}: use the MetricSet's own uid"
                    )
                cursor.execute(MERGE_RUN_SQL, [*parameters, list(RUN_STATUSES)])
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            return self.get_run(run.uid)

    @staticmethod
    def _run_parameters(run: Run, now: float) -> list[Any]:
        return [
            run.uid,
            run.namespace,
            run.name,
            json.dumps(run.spec),
            run.status,
            run.message,
            utc_datetime(run.started_at),
            utc_datetime(run.ended_at),
            utc_datetime(now),
        ]

    def insert(self, run_uid: str, samples: SampleColumns | pa.Table, results: list[ResultRow]) -> int:
        """Store a batch of samples and results in one transaction; returns the sample rows stored."""
        with self.lock:
            self._in_transaction(lambda: self._insert_rows(run_uid, samples, results))
        return len(samples)

    def insert_batch(
        self, run_uid: str, idempotency_key: str, samples: SampleColumns | pa.Table, results: list[ResultRow]
    ) -> bool:
        """Store a batch once per idempotency key; return False if the key was already stored.

        The key is stored in the same transaction as the rows, so a batch that is
        retried after a crash between commit and acknowledgement is not stored twice.
        Raises UnknownRun when the run was never registered.
        """
        [outcome] = self.insert_batches([BatchInsert(run_uid, idempotency_key, samples, results)])
        if isinstance(outcome, UnknownRun):
            raise outcome
        return outcome

    def insert_batches(self, batches: Sequence[BatchInsert]) -> list[bool | UnknownRun]:
        """Store several batches in one transaction (group commit), each once per idempotency key.

        Returns one outcome per batch, in order. True means stored. False means its key
        was stored before, by an earlier transaction or an earlier batch of this group.
        An UnknownRun error means its run was never registered, and the batch is skipped.
        One commit per group instead of per batch matters because COMMIT took about a
        third of the writer thread's time under eight concurrent pushers (py-spy on
        bench/sink_ingest.py), as much as the append itself.
        """
        def store_group() -> list[bool | UnknownRun]:
            outcomes = self._batch_outcomes(batches)
            new = [batch for batch, outcome in zip(batches, outcomes) if outcome is True]
            if new:
                self._insert_new_batches(new)
            return outcomes

        with self.lock:
            return self._in_transaction(store_group)

    def _batch_outcomes(self, batches: Sequence[BatchInsert]) -> list[bool | UnknownRun]:
        cursor = self.connection
        uids = sorted({batch.run_uid for batch in batches})
        known_runs = {row[0] for row in cursor.execute("SELECT uid FROM runs WHERE list_contains(?, uid)", [uids]).fetchall()}
        keys = sorted({batch.idempotency_key for batch in batches})
        seen = set(
            cursor.execute(
                "SELECT run_uid, idempotency_key FROM ingested_batches WHERE list_contains(?, idempotency_key)", [keys]
            ).fetchall()
        )

        outcomes: list[bool | UnknownRun] = []
        for batch in batches:
            identity = (batch.run_uid, batch.idempotency_key)
            if batch.run_uid not in known_runs:
                outcomes.append(UnknownRun(batch.run_uid))
            elif identity in seen:
                outcomes.append(False)
            else:
                seen.add(identity)
                outcomes.append(True)
        return outcomes

    def _insert_new_batches(self, batches: list[BatchInsert]) -> None:
        # One Arrow insert for the samples of the whole group; concat_tables copies no data.
        tables = [samples_to_arrow(batch.run_uid, batch.samples) for batch in batches if len(batch.samples)]
        if tables:
            self._append_arrow("samples", pa.concat_tables(tables))
        results = [(batch.run_uid, row) for batch in batches for row in batch.results]
        if results:
            self._insert_results(results)
        received_at = utc_datetime(time.time())
        keys = pa.table(
            {
                "run_uid": pa.array([batch.run_uid for batch in batches], pa.string()),
                "idempotency_key": pa.array([batch.idempotency_key for batch in batches], pa.string()),
                "sample_rows": pa.array([len(batch.samples) for batch in batches], pa.int64()),
                "result_rows": pa.array([len(batch.results) for batch in batches], pa.int64()),
                "received_at": pa.array([received_at] * len(batches), pa.timestamp("us")),
            }
        )
        self._append_arrow("ingested_batches", keys)

    def _in_transaction(self, work: Callable[[], T]) -> T:
        cursor = self.connection
        cursor.execute("BEGIN TRANSACTION")
        try:
            outcome = work()
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        return outcome

    def _insert_rows(self, run_uid: str, samples: SampleColumns | pa.Table, results: list[ResultRow]) -> None:
        if len(samples):
            self._append_arrow("samples", samples_to_arrow(run_uid, samples))
        if results:
            self._insert_results([(run_uid, row) for row in results])

    def _insert_results(self, results: list[tuple[str, ResultRow]]) -> None:
        # A handful of JSON documents per batch, so executemany is fast enough here.
        self.connection.executemany(
            "INSERT INTO results VALUES (?, ?, ?, ?, ?)",
            [[run_uid, row.metric, row.pod, utc_datetime(row.timestamp), json.dumps(row.data)] for run_uid, row in results],
        )

    def _append_arrow(self, table_name: str, rows: pa.Table) -> None:
        """Append an Arrow table whose columns are those of ``table_name``, in order."""
        # Table names come from this module only; identifiers cannot be statement parameters.
        self.connection.register("arrow_rows", rows)
        try:
            self.connection.execute(f"INSERT INTO {table_name} SELECT * FROM arrow_rows")
        finally:
            self.connection.unregister("arrow_rows")


class StoreDestination:
    """Writes a collector's batches into a local Store from an event loop."""

    def __init__(self, store: Store, run_uid: str):
        self.store = store
        self.run_uid = run_uid

    async def write(self, samples: SampleColumns, results: list[ResultRow]) -> None:
        await asyncio.to_thread(self.store.insert, self.run_uid, samples, results)
