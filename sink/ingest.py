"""Ingest handlers: register runs, and store sample and result batches exactly once.

A handler responds only after DuckDB committed the batch and its idempotency key in one
transaction, so a client that saw a 2xx can drop its copy, and a client that saw an
error or no answer can resend the batch with the same key without storing it twice.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from metrics_operator.sink import payloads
from metrics_operator.sink.errors import ApiError
from metrics_operator.sink.state import SinkState, state_of
from metrics_operator.sink.store import BatchInsert, RunConflict, UnknownRun

log = logging.getLogger(__name__)


async def read_body(request: web.Request, state: SinkState, allowed_types: tuple[str, ...]) -> bytes:
    """Check the content type and size, then read the whole body."""
    if request.content_type not in allowed_types:
        raise ApiError(
            415,
            "unsupported_content_type",
            f"unsupported Content-Type {request.content_type!r}: use {' or '.join(allowed_types)}",
        )
    limit = state.config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            413,
            "body_too_large",
            f"request body of {request.content_length} bytes exceeds the limit of {limit} bytes: send smaller batches",
            limit=limit,
        )
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        # A chunked body has no Content-Length, so aiohttp stops it at client_max_size.
        raise ApiError(
            413, "body_too_large", f"request body exceeds the limit of {limit} bytes: send smaller batches", limit=limit
        ) from None


async def post_run(request: web.Request) -> web.Response:
    """Register a run or merge a report of it (status, times, message) into the stored one."""
    state = state_of(request)
    body = await read_body(request, state, (payloads.JSON_TYPE,))
    run = payloads.run_from_json(payloads.parse_json_object(body))
    try:
        stored = await state.db.write(lambda store: store.merge_run(run))
    except RunConflict as error:
        raise ApiError(409, "run_conflict", str(error)) from None
    log.info("run %s of %s/%s reported %s, stored %s", run.uid, run.namespace, run.name, run.status, stored.status)
    return web.json_response(stored.to_dict())


async def post_samples(request: web.Request) -> web.Response:
    """Store one batch of samples, sent as JSON columns or as an Arrow IPC stream."""
    state = state_of(request)
    started = time.perf_counter()
    body = await read_body(request, state, (payloads.JSON_TYPE, payloads.ARROW_STREAM_TYPE))
    header_key = request.headers.get(payloads.IDEMPOTENCY_HEADER)
    if request.content_type == payloads.ARROW_STREAM_TYPE:
        key = payloads.idempotency_key(header_key, None)
        table = payloads.sample_table_from_arrow(body, state.config.max_batch_rows)
    else:
        document = payloads.parse_json_object(body)
        key = payloads.idempotency_key(header_key, document)
        table = payloads.sample_table_from_json(document, state.config.max_batch_rows)
    run_uid = request.match_info["uid"]
    stored = await _store_batch(state, BatchInsert(run_uid, key, table, []))
    if stored:
        state.metrics.samples_ingested.inc(table.num_rows)
    state.metrics.batch_seconds.observe(time.perf_counter() - started)
    return web.json_response({"run": run_uid, "idempotencyKey": key, "rows": table.num_rows, "duplicate": not stored})


async def post_results(request: web.Request) -> web.Response:
    """Store one batch of result documents (JSON)."""
    state = state_of(request)
    started = time.perf_counter()
    body = await read_body(request, state, (payloads.JSON_TYPE,))
    document = payloads.parse_json_object(body)
    key = payloads.idempotency_key(request.headers.get(payloads.IDEMPOTENCY_HEADER), document)
    results = payloads.results_from_json(document, state.config.max_batch_rows)
    run_uid = request.match_info["uid"]
    stored = await _store_batch(state, BatchInsert(run_uid, key, [], results))
    if stored:
        state.metrics.results_ingested.inc(len(results))
    state.metrics.batch_seconds.observe(time.perf_counter() - started)
    return web.json_response({"run": run_uid, "idempotencyKey": key, "rows": len(results), "duplicate": not stored})


async def _store_batch(state: SinkState, batch: BatchInsert) -> bool:
    try:
        stored = await state.db.write_batch(batch)
    except UnknownRun:
        raise ApiError(
            404, "unknown_run", f"run {batch.run_uid!r} is not registered: POST /v1/runs with its uid first", run=batch.run_uid
        ) from None
    if not stored:
        state.metrics.batches_duplicate.inc()
        log.info("batch %s of run %s was already stored; acknowledged again", batch.idempotency_key, batch.run_uid)
    return stored


