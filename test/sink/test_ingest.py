"""Ingest over HTTP: idempotent batches, both body formats, run merging and sample read-back."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet
import pytest

from metrics_operator.containers.common.push import ARROW_STREAM_TYPE, sample_columns_to_arrow_stream
from metrics_operator.containers.common.writer import SampleColumns

RUN = {"uid": "run-1", "namespace": "bench", "name": "cpu", "status": "Running", "startedAt": 1796400000.0}


def sample_batch(rows: int, offset: float = 0.0) -> SampleColumns:
    columns = SampleColumns()
    for index in range(rows):
        columns.append("perf-proc", "pod-0", "total", "cpu_percent", 1796400000.5 + index, offset + index * 1.25)
    return columns


async def register(http, url: str, **changes) -> dict:
    response = await http.post(url + "/v1/runs", json=RUN | changes)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_retried_batch_stored_once(sink, http):
    await register(http, sink.url)
    body = sample_batch(10).to_dict() | {"idempotencyKey": "batch-1"}

    first = await (await http.post(sink.url + "/v1/runs/run-1/samples", json=body)).json()
    second = await (await http.post(sink.url + "/v1/runs/run-1/samples", json=body)).json()
    run = await (await http.get(sink.url + "/v1/runs/run-1")).json()

    assert first["duplicate"] is False
    assert second["duplicate"] is True
    assert run["sampleCount"] == 10


async def test_header_key_wins_over_body_key(sink, http):
    await register(http, sink.url)
    body = sample_batch(3).to_dict() | {"idempotencyKey": "body-key"}

    stored = await (await http.post(sink.url + "/v1/runs/run-1/samples", json=body, headers={"Idempotency-Key": "header-key"})).json()

    assert stored["idempotencyKey"] == "header-key"


async def test_arrow_and_json_store_alike(sink, http):
    await register(http, sink.url)
    await register(http, sink.url, uid="run-2")
    batch = sample_batch(20, offset=3.0)

    as_json = await http.post(sink.url + "/v1/runs/run-1/samples", json=batch.to_dict() | {"idempotencyKey": "j"})
    as_arrow = await http.post(
        sink.url + "/v1/runs/run-2/samples",
        data=sample_columns_to_arrow_stream(batch),
        headers={"Content-Type": ARROW_STREAM_TYPE, "Idempotency-Key": "a"},
    )
    from_json = await (await http.get(sink.url + "/v1/runs/run-1/samples")).json()
    from_arrow = await (await http.get(sink.url + "/v1/runs/run-2/samples")).json()

    assert as_json.status == 200
    assert as_arrow.status == 200
    assert from_json["value"] == batch.value
    assert from_arrow["value"] == batch.value
    assert from_arrow["timestamp"] == batch.timestamp


# Reports arrive from several containers in any order; each row: reports, then the expected stored run.
MERGE_CASES = [
    (
        "failed-never-goes-back",
        [{"status": "Failed", "message": "pod-1: exit 3"}, {"status": "Succeeded"}, {"status": "Running"}],
        {"status": "Failed", "message": "pod-1: exit 3"},
    ),
    ("succeeded-beats-running", [{"status": "Succeeded"}, {"status": "Running"}], {"status": "Succeeded"}),
    ("pending-to-running", [{"status": "Pending"}, {"status": "Running"}], {"status": "Running"}),
    (
        "earliest-start-latest-end",
        [
            {"startedAt": 1796400010.0, "endedAt": 1796400100.0},
            {"startedAt": 1796400005.0, "endedAt": 1796400090.0},
            {"startedAt": 1796400020.0, "endedAt": 1796400120.0},
        ],
        {"startedAt": 1796400005.0, "endedAt": 1796400120.0},
    ),
    ("message-kept-when-unset", [{"message": "warming up"}, {"message": None}], {"message": "warming up"}),
    ("spec-kept-when-unset", [{"spec": {"pods": 2}}, {"spec": {}}], {"spec": {"pods": 2}}),
]


@pytest.mark.parametrize("reports, expected", [case[1:] for case in MERGE_CASES], ids=[case[0] for case in MERGE_CASES])
async def test_run_reports_merge(sink, http, reports, expected):
    base = {"uid": "run-m", "namespace": "bench", "name": "merge", "status": "Running"}
    for report in reports:
        await register(http, sink.url, **(base | report))

    stored = await (await http.get(sink.url + "/v1/runs/run-m")).json()

    for name, value in expected.items():
        assert stored[name] == value, name


async def test_samples_csv_and_parquet(sink, http):
    await register(http, sink.url)
    batch = sample_batch(5)
    await http.post(sink.url + "/v1/runs/run-1/samples", json=batch.to_dict() | {"idempotencyKey": "k"})

    as_csv = await http.get(sink.url + "/v1/runs/run-1/samples", headers={"Accept": "text/csv"})
    as_parquet = await http.get(sink.url + "/v1/runs/run-1/samples?format=parquet")
    rows = list(csv.DictReader(io.StringIO(await as_csv.text())))
    table = pyarrow.parquet.read_table(io.BytesIO(await as_parquet.read()))

    assert as_csv.content_type == "text/csv"
    assert [float(row["value"]) for row in rows] == batch.value
    assert as_parquet.content_type == "application/vnd.apache.parquet"
    assert table.column("value").to_pylist() == batch.value


async def test_samples_time_filter(sink, http):
    await register(http, sink.url)
    await http.post(sink.url + "/v1/runs/run-1/samples", json=sample_batch(10).to_dict() | {"idempotencyKey": "k"})

    selected = await (await http.get(sink.url + "/v1/runs/run-1/samples", params={"since": "1796400003", "until": "2026-12-04T16:00:07Z"})).json()

    # Samples are at 1796400000.5 + i; the ISO time is 1796400007.
    assert selected["timestamp"] == [1796400003.5 + index for index in range(4)]


async def test_results_round_trip(sink, http):
    await register(http, sink.url)
    result = {"metric": "app-timing", "pod": "pod-0", "timestamp": 1796400010.0, "data": {"exitCode": 0, "command": "sleep 1"}}

    stored = await http.post(sink.url + "/v1/runs/run-1/results", json={"idempotencyKey": "r", "results": [result]})
    listed = await (await http.get(sink.url + "/v1/runs/run-1/results")).json()

    assert stored.status == 200
    assert listed["results"] == [result]


async def test_runs_filtered_by_status(sink, http):
    await register(http, sink.url)
    await register(http, sink.url, uid="run-2", name="memory", status="Failed")

    failed = await (await http.get(sink.url + "/v1/runs", params={"status": "Failed"})).json()

    assert [run["uid"] for run in failed["runs"]] == ["run-2"]
