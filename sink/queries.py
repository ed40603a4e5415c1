"""Query handlers: runs, one run, its summary, results and samples (JSON, CSV or Parquet).

Every filter is passed to DuckDB as a statement parameter, so a value that looks like
SQL only ever matches as a value.
"""

from __future__ import annotations

import asyncio
import io
import math
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet
from aiohttp import web

from metrics_operator.sink.errors import ApiError
from metrics_operator.sink.state import state_of
from metrics_operator.sink.store import RUN_STATUSES, StoreReader

DEFAULT_RUN_LIMIT = 1000
MAX_RUN_LIMIT = 10_000

SAMPLE_FORMATS = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
# Media types accepted in Accept, including the older unregistered Parquet name.
ACCEPT_FORMATS = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "*/*": "json",
    "application/*": "json",
}


def parse_time(name: str, text: str | None) -> float | None:
    """Read a time filter: Unix seconds, or ISO 8601 (UTC unless it has an offset)."""
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not math.isfinite(value):
            raise _bad_filter(name, text)
        return value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad_filter(name, text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _bad_filter(name: str, text: str) -> ApiError:
    return ApiError(
        400,
        "invalid_filter",
        f"invalid {name} {text[:80]!r}: use Unix seconds (1796400000) or ISO 8601 (2026-12-04T10:00:00Z)",
    )


def _parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_RUN_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_RUN_LIMIT:
        raise ApiError(400, "invalid_filter", f"invalid limit {text[:40]!r}: use a whole number from 1 to {MAX_RUN_LIMIT}")
    return int(text)


async def list_runs(request: web.Request) -> web.Response:
    """List runs, newest first, filtered by name, namespace, status and start time."""
    query = request.query
    status = query.get("status")
    if status is not None and status not in RUN_STATUSES:
        raise ApiError(400, "invalid_filter", f"invalid status {status[:40]!r}: use one of {', '.join(RUN_STATUSES)}")
    filters = {
        "name": query.get("name"),
        "namespace": query.get("namespace"),
        "status": status,
        "since": parse_time("since", query.get("since")),
        "until": parse_time("until", query.get("until")),
        "limit": _parse_limit(query.get("limit")),
    }
    runs = await state_of(request).db.read(lambda reader: reader.list_runs(**filters))
    return web.json_response({"runs": [run.to_dict() for run in runs]})


async def _read_for_run(request: web.Request, query):
    """Run ``query(reader, uid)`` for the run in the path, or raise 404 if the run is unknown."""
    uid = request.match_info["uid"]

    def read(reader: StoreReader):
        run = reader.get_run(uid)
        return None if run is None else (run, query(reader, uid))

    found = await state_of(request).db.read(read)
    if found is None:
        raise ApiError(404, "unknown_run", f"run {uid!r} not found: list runs with GET /v1/runs", run=uid)
    return found


async def get_run(request: web.Request) -> web.Response:
    """Return one run with its sample count."""
    run, count = await _read_for_run(request, lambda reader, uid: reader.sample_count(uid))
    return web.json_response({**run.to_dict(), "sampleCount": count})


async def get_summary(request: web.Request) -> web.Response:
    """Return count, min, mean, max, p50, p95 and p99 per metric and field."""
    run, summary = await _read_for_run(request, lambda reader, uid: reader.summary(uid))
    return web.json_response({"run": run.uid, "status": run.status, "summary": summary})


async def get_results(request: web.Request) -> web.Response:
    """Return the run's result documents, optionally of one metric."""
    metric = request.query.get("metric")
    run, results = await _read_for_run(request, lambda reader, uid: reader.results(uid, metric))
    return web.json_response({"run": run.uid, "results": results})


async def get_samples(request: web.Request) -> web.Response:
    """Return the run's samples as JSON columns, CSV or Parquet."""
    query = request.query
    sample_format = _sample_format(request)
    filters = {
        "metric": query.get("metric"),
        "field": query.get("field"),
        "since": parse_time("since", query.get("since")),
        "until": parse_time("until", query.get("until")),
    }
    # NOTE: the whole selection is built in memory; a paging cursor would be needed for runs
    # with hundreds of millions of samples.
    _, table = await _read_for_run(request, lambda reader, uid: reader.samples(uid, **filters))
    if sample_format == "json":
        return web.json_response({"run": request.match_info["uid"], **_json_columns(table)})
    body = await _encode(table, sample_format)
    return web.Response(body=body, content_type=SAMPLE_FORMATS[sample_format])


def _sample_format(request: web.Request) -> str:
    requested = request.query.get("format")
    if requested is not None:
        if requested not in SAMPLE_FORMATS:
            raise ApiError(400, "invalid_filter", f"invalid format {requested[:40]!r}: use one of {', '.join(SAMPLE_FORMATS)}")
        return requested
    accept = request.headers.get("Accept", "*/*")
    for media_type in (part.split(";")[0].strip() for part in accept.split(",")):
        if media_type in ACCEPT_FORMATS:
            return ACCEPT_FORMATS[media_type]
    raise ApiError(
        406, "unsupported_content_type", f"cannot send samples as {accept[:80]!r}: accept one of {', '.join(SAMPLE_FORMATS.values())}"
    )


def _json_columns(table: pa.Table) -> dict[str, list]:
    # The same columns a batch is sent in, so a client can read back what it wrote.
    seconds = pc.divide(table.column("ts").cast(pa.int64()).cast(pa.float64()), 1_000_000)
    return {
        "metric": table.column("metric").to_pylist(),
        "pod": table.column("pod").to_pylist(),
        "series": table.column("series").to_pylist(),
        "field": table.column("field").to_pylist(),
        "timestamp": seconds.to_pylist(),
        "value": table.column("value").to_pylist(),
    }


async def _encode(table: pa.Table, sample_format: str) -> bytes:
    return await asyncio.to_thread(_encode_now, table, sample_format)


def _encode_now(table: pa.Table, sample_format: str) -> bytes:
    buffer = io.BytesIO()
    if sample_format == "csv":
        pyarrow.csv.write_csv(table, buffer)
    else:
        pyarrow.parquet.write_table(table, buffer)
    return buffer.getvalue()
