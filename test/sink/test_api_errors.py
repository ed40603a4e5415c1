"""Bad requests to the sink get a 4xx with a JSON error naming the problem, and change nothing stored.

Each case runs against a sink on 127.0.0.1 that already contains a run with samples and
results; the test compares the stored counts and value sums before and after.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pyarrow as pa
import pytest

from metrics_operator.sink.state import STATE
from metrics_operator.sink.store import StoreReader

from sink_helpers import TOKEN, Sink, start_sink

RUN = {"uid": "run-1", "namespace": "bench", "name": "cpu", "status": "Running", "startedAt": 1796400000.0}
MAX_BODY_BYTES = 64 * 1024
MAX_BATCH_ROWS = 100


def columns(rows: int, **overrides) -> dict:
    """A valid JSON sample batch of ``rows`` rows, with some columns replaced."""
    batch = {
        "metric": ["perf-proc"] * rows,
        "pod": ["pod-0"] * rows,
        "series": ["total"] * rows,
        "field": ["cpu_percent"] * rows,
        "timestamp": [1796400000.0 + index for index in range(rows)],
        "value": [float(index) for index in range(rows)],
    }
    return {**batch, **overrides}


def as_json(document) -> bytes:
    return json.dumps(document).encode()


JSON = {"Content-Type": "application/json"}
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
KEY = {"Idempotency-Key": "bad-batch-1"}
SAMPLES = f"/v1/runs/{RUN['uid']}/samples"
RESULTS = f"/v1/runs/{RUN['uid']}/results"

# id, method, path, headers, body, expected status, expected reason, text the error must contain
CASES = [
    ("json-truncated", "POST", SAMPLES, JSON | KEY, b'{"metric": [', 400, "malformed_body", "not valid JSON"),
    ("json-not-object", "POST", SAMPLES, JSON | KEY, b"[1, 2]", 400, "malformed_body", "must be a JSON object"),
    ("json-not-utf8", "POST", SAMPLES, JSON | KEY, b'{"metric": "\xff"}', 400, "malformed_body", "UTF-8"),
    ("column-lengths", "POST", SAMPLES, JSON | KEY, as_json(columns(3, value=[1.0, 2.0])), 400, "invalid_columns", "value=2"),
    ("column-missing", "POST", SAMPLES, JSON | KEY, as_json({k: v for k, v in columns(2).items() if k != "value"}), 400, "invalid_columns", "missing sample columns: value"),
    ("column-not-array", "POST", SAMPLES, JSON | KEY, as_json(columns(2, pod="pod-0")), 400, "invalid_columns", "pod"),
    ("value-is-text", "POST", SAMPLES, JSON | KEY, as_json(columns(2, value=[1.0, "high"])), 400, "invalid_columns", "'value' must contain numbers"),
    ("value-is-boolean", "POST", SAMPLES, JSON | KEY, as_json(columns(2, value=[1.0, True])), 400, "invalid_columns", "boolean"),
    ("value-is-null", "POST", SAMPLES, JSON | KEY, as_json(columns(2, value=[1.0, None])), 400, "invalid_columns", "null values"),
    ("value-is-nan", "POST", SAMPLES, JSON | KEY, as_json(columns(2, value=[1.0, float("nan")])), 400, "invalid_columns", "NaN or infinite"),
    ("too-many-rows", "POST", SAMPLES, JSON | KEY, as_json(columns(MAX_BATCH_ROWS + 1)), 400, "too_many_rows", f"limit of {MAX_BATCH_ROWS}"),
    ("body-too-large", "POST", SAMPLES, JSON | KEY, b" " * (MAX_BODY_BYTES + 1), 413, "body_too_large", f"limit of {MAX_BODY_BYTES} bytes"),
    ("no-idempotency-key", "POST", SAMPLES, JSON, as_json(columns(2)), 400, "missing_idempotency_key", "Idempotency-Key"),
    ("bad-idempotency-key", "POST", SAMPLES, JSON | {"Idempotency-Key": "has spaces"}, as_json(columns(2)), 400, "missing_idempotency_key", "invalid idempotency key"),
    ("unknown-run", "POST", "/v1/runs/no-such-run/samples", JSON | KEY, as_json(columns(2)), 404, "unknown_run", "'no-such-run' is not registered"),
    ("content-type-text", "POST", SAMPLES, {"Content-Type": "text/plain"} | KEY, as_json(columns(2)), 415, "unsupported_content_type", "'text/plain'"),
    ("arrow-garbage", "POST", SAMPLES, ARROW | KEY, b"not arrow at all", 400, "malformed_body", "not an Arrow IPC stream"),
    ("results-not-array", "POST", RESULTS, JSON | KEY, as_json({"results": {"metric": "x"}}), 400, "invalid_columns", "'results' array"),
    ("results-no-data", "POST", RESULTS, JSON | KEY, as_json({"results": [{"metric": "m", "pod": "p", "timestamp": 1.0}]}), 400, "invalid_columns", "results[0].data"),
    ("run-bad-status", "POST", "/v1/runs", JSON, as_json(RUN | {"status": "Done"}), 400, "malformed_body", "invalid run status 'Done'"),
    ("run-missing-uid", "POST", "/v1/runs", JSON, as_json({"namespace": "bench", "name": "cpu"}), 400, "malformed_body", "'uid'"),
    ("run-other-metricset", "POST", "/v1/runs", JSON, as_json(RUN | {"name": "other"}), 409, "run_conflict", "bench/cpu"),
    ("filter-status-sql", "GET", "/v1/runs?status=Running'%20OR%201=1--", {}, b"", 400, "invalid_filter", "invalid status"),
    ("filter-since-sql", "GET", "/v1/runs?since=1;DROP%20TABLE%20samples", {}, b"", 400, "invalid_filter", "invalid since"),
    ("filter-limit", "GET", "/v1/runs?limit=-1", {}, b"", 400, "invalid_filter", "invalid limit"),
    ("samples-until-sql", "GET", f"{SAMPLES}?until=now()", {}, b"", 400, "invalid_filter", "invalid until"),
    ("samples-format", "GET", f"{SAMPLES}?format=xlsx", {}, b"", 400, "invalid_filter", "invalid format 'xlsx'"),
    ("samples-accept", "GET", SAMPLES, {"Accept": "image/png"}, b"", 406, "unsupported_content_type", "image/png"),
    ("summary-unknown-run", "GET", "/v1/runs/nope/summary", {}, b"", 404, "unknown_run", "'nope' not found"),
    ("unknown-route", "GET", "/v1/everything", {}, b"", 404, "not_found", "GET /v1/everything"),
    ("wrong-method", "DELETE", "/v1/runs", {}, b"", 405, "method_not_allowed", "DELETE /v1/runs"),
]


def fingerprint(reader: StoreReader) -> tuple:
    """Counts and checksums of everything stored, to compare before and after a request."""
    connection = reader.connection
    samples = connection.execute("SELECT count(*), sum(value), sum(epoch_us(ts)) FROM samples").fetchone()
    results = connection.execute("SELECT count(*), string_agg(data::VARCHAR, '|' ORDER BY ts) FROM results").fetchone()
    runs = connection.execute("SELECT string_agg(uid || namespace || name || status, '|' ORDER BY uid) FROM runs").fetchone()
    batches = connection.execute("SELECT count(*) FROM ingested_batches").fetchone()
    return (*samples, *results, *runs, *batches)


@pytest.fixture
async def filled_sink(tmp_path: Path, auth_headers) -> AsyncIterator[Sink]:
    """A sink with small limits that contains one run, 50 samples and one result."""
    sink = await start_sink(tmp_path / "sink.duckdb", max_body_bytes=MAX_BODY_BYTES, max_batch_rows=MAX_BATCH_ROWS)
    async with aiohttp.ClientSession(headers=auth_headers) as http:
        response = await http.post(sink.url + "/v1/runs", json=RUN)
        assert response.status == 200, await response.text()
        response = await http.post(sink.url + SAMPLES, json=columns(50) | {"idempotencyKey": "good-1"})
        assert response.status == 200, await response.text()
        result = {"metric": "app-timing", "pod": "pod-0", "timestamp": 1796400050.0, "data": {"exitCode": 0}}
        response = await http.post(sink.url + RESULTS, json={"idempotencyKey": "good-2", "results": [result]})
        assert response.status == 200, await response.text()
    yield sink
    await sink.server.close()


@pytest.mark.parametrize(
    "method, path, headers, body, status, reason, text", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
async def test_bad_request_rejected(filled_sink: Sink, http, method, path, headers, body, status, reason, text):
    database = filled_sink.app[STATE].db
    before = await database.read(fingerprint)
    assert before[0] == 50

    response = await http.request(method, filled_sink.url + path, headers=headers, data=body)
    document = await response.json(content_type=None)

    assert response.status == status, document
    assert response.content_type == "application/json"
    assert document["reason"] == reason
    assert text in document["error"]
    assert await database.read(fingerprint) == before


async def test_chunked_body_too_large(filled_sink: Sink, http):
    database = filled_sink.app[STATE].db
    before = await database.read(fingerprint)

    async def chunks():
        for _ in range(4):
            yield b" " * (MAX_BODY_BYTES // 2)

    # A generator body is sent chunked, without Content-Length, so only the read can stop it.
    response = await http.post(filled_sink.url + SAMPLES, data=chunks(), headers=JSON | KEY)
    document = await response.json(content_type=None)

    assert response.status == 413, document
    assert document["reason"] == "body_too_large"
    assert await database.read(fingerprint) == before


async def test_arrow_wrong_column_type(filled_sink: Sink, http):
    table = pa.table({name: pa.array(values) for name, values in columns(2).items()})
    table = table.set_column(5, "value", pa.array(["1", "2"]))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    database = filled_sink.app[STATE].db
    before = await database.read(fingerprint)

    response = await http.post(filled_sink.url + SAMPLES, data=sink.getvalue().to_pybytes(), headers=ARROW | KEY)
    document = await response.json()

    assert response.status == 400
    assert "column 'value' has Arrow type string" in document["error"]
    assert await database.read(fingerprint) == before


@pytest.mark.parametrize(
    "query",
    ["name=cpu'%20OR%20'1'='1", "namespace=bench%22;%20DROP%20TABLE%20runs;--", "name=*"],
    ids=["quote-or", "drop-table", "wildcard"],
)
async def test_sql_looking_filter_is_a_value(filled_sink: Sink, http, query):
    database = filled_sink.app[STATE].db
    before = await database.read(fingerprint)

    response = await http.get(f"{filled_sink.url}/v1/runs?{query}")
    document = await response.json()

    assert response.status == 200
    assert document["runs"] == []
    assert await database.read(fingerprint) == before


async def test_sql_looking_metric_filter_matches_nothing(filled_sink: Sink, http):
    response = await http.get(f"{filled_sink.url}{SAMPLES}?metric=perf-proc'%20OR%20'1'='1")
    document = await response.json()

    assert response.status == 200
    assert document["value"] == []


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/v1/runs"), ("GET", "/v1/runs/run-1/summary"), ("POST", "/v1/runs"), ("POST", SAMPLES)],
)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
    ids=["missing", "wrong", "not-bearer", "longer", "empty"],
)
async def test_token_required(filled_sink: Sink, method, path, authorization):
    database = filled_sink.app[STATE].db
    before = await database.read(fingerprint)
    headers = JSON | KEY | ({"Authorization": authorization} if authorization else {})

    async with aiohttp.ClientSession() as anonymous:
        response = await anonymous.request(method, filled_sink.url + path, headers=headers, data=as_json(columns(2)))
        document = await response.json()

    assert response.status == 401
    assert document["reason"] == "unauthorized"
    assert await database.read(fingerprint) == before


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
async def test_open_routes_need_no_token(filled_sink: Sink, path):
    async with aiohttp.ClientSession() as anonymous:
        response = await anonymous.get(filled_sink.url + path)

    assert response.status == 200
