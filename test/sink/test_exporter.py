"""GET /metrics: Prometheus text with the summaries of finished runs, bounded in series count."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sink_helpers import start_sink

from metrics_operator.sink.state import STATE
from metrics_operator.sink.store import SUMMARY_STATISTICS, Store, utc_datetime

MAX_METRICSETS = 100
STORED_RUNS = 1000
FIELDS = ("cpu_percent", "rss_bytes", "threads")
SAMPLES_PER_FIELD = 10


async def scrape(url: str) -> dict:
    """Fetch /metrics and index its samples by metric name."""
    async with aiohttp.ClientSession() as anonymous:
        response = await anonymous.get(url + "/metrics")
        text = await response.text()
    assert response.status == 200
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


async def post_run(http, url: str, uid: str, name: str, values: list[float], status: str, ended_at: float) -> None:
    report = {"uid": uid, "namespace": "bench", "name": name, "status": "Running", "startedAt": ended_at - 10}
    assert (await http.post(url + "/v1/runs", json=report)).status == 200
    batch = {
        "idempotencyKey": f"{uid}-1",
        "metric": ["perf-proc"] * len(values),
        "pod": ["pod-0"] * len(values),
        "series": ["total"] * len(values),
        "field": ["cpu_percent"] * len(values),
        "timestamp": [ended_at - 5 + index * 0.1 for index in range(len(values))],
        "value": values,
    }
    assert (await http.post(f"{url}/v1/runs/{uid}/samples", json=batch)).status == 200
    report |= {"status": status, "endedAt": ended_at}
    assert (await http.post(url + "/v1/runs", json=report)).status == 200


async def test_metrics_export_finished_run(sink, http):
    now = time.time()
    await post_run(http, sink.url, "old-run", "cpu", [1.0, 1.0], "Succeeded", now - 100)
    await post_run(http, sink.url, "new-run", "cpu", [10.0, 20.0, 30.0, 40.0], "Succeeded", now - 50)
    await post_run(http, sink.url, "running-run", "memory", [5.0], "Running", now)

    samples = await scrape(sink.url)
    summary = {
        sample.labels["statistic"]: sample
        for sample in samples["metrics_sink_run_summary"]
        if sample.labels["metricset"] == "cpu"
    }
    info = samples["metrics_sink_run_info"]

    assert set(summary) == set(SUMMARY_STATISTICS)
    assert summary["count"].value == 4
    assert summary["mean"].value == 25.0
    assert summary["max"].value == 40.0
    assert summary["mean"].labels == {
        "namespace": "bench", "metricset": "cpu", "metric": "perf-proc", "series": "total", "field": "cpu_percent",
        "statistic": "mean",
    }
    assert [sample.labels["run"] for sample in info] == ["new-run"]
    assert all(sample.labels["metricset"] != "memory" for sample in samples["metrics_sink_run_summary"])


async def test_metrics_export_sink_health(sink, http):
    await post_run(http, sink.url, "run-a", "cpu", [1.0, 2.0, 3.0], "Succeeded", time.time())
    await http.post(sink.url + "/v1/runs/run-a/samples", json={"idempotencyKey": "x", "value": [1]})

    samples = await scrape(sink.url)
    rejected = {sample.labels["reason"]: sample.value for sample in samples["metrics_sink_batches_rejected_total"]}

    assert samples["metrics_sink_samples_ingested_total"][0].value == 3
    assert rejected["invalid_columns"] == 1
    assert rejected["unknown_run"] == 0
    assert samples["metrics_sink_batch_seconds_count"][0].value == 1
    assert samples["metrics_sink_database_size_bytes"][0].value > 0


def insert_runs_with_arrow(store: Store, runs: int) -> None:
    """Store ``runs`` finished runs, one MetricSet each, through Arrow in two statements."""
    now = time.time()
    ended = [utc_datetime(now - index) for index in range(runs)]
    run_table = pa.table(
        {
            "uid": [f"uid-{index}" for index in range(runs)],
            "namespace": ["bench"] * runs,
            "name": [f"set-{index}" for index in range(runs)],
            "spec": ["{}"] * runs,
            "status": ["Succeeded"] * runs,
            "message": pa.nulls(runs, pa.string()),
            "started_at": pa.array([utc_datetime(now - index - 60) for index in range(runs)], pa.timestamp("us")),
            "ended_at": pa.array(ended, pa.timestamp("us")),
            "updated_at": pa.array(ended, pa.timestamp("us")),
        }
    )
    rows = runs * len(FIELDS) * SAMPLES_PER_FIELD
    sample_table = pa.table(
        {
            "run_uid": [f"uid-{index // (len(FIELDS) * SAMPLES_PER_FIELD)}" for index in range(rows)],
            "metric": ["perf-proc"] * rows,
            "pod": ["pod-0"] * rows,
            "series": ["total"] * rows,
            "field": [FIELDS[(index // SAMPLES_PER_FIELD) % len(FIELDS)] for index in range(rows)],
            "ts": pa.array([utc_datetime(now - 30 + index % SAMPLES_PER_FIELD) for index in range(rows)], pa.timestamp("us")),
            "value": [float(index % SAMPLES_PER_FIELD) for index in range(rows)],
        }
    )
    with store.lock:
        store.connection.register("run_batch", run_table)
        store.connection.register("sample_batch", sample_table)
        store.connection.execute("INSERT INTO runs SELECT * FROM run_batch")
        store.connection.execute("INSERT INTO samples SELECT * FROM sample_batch")
        store.connection.unregister("run_batch")
        store.connection.unregister("sample_batch")


@pytest.fixture
async def sink_with_many_runs(tmp_path: Path):
    sink = await start_sink(tmp_path / "sink.duckdb", max_metricsets=MAX_METRICSETS)
    await sink.app[STATE].db.write(lambda store: insert_runs_with_arrow(store, STORED_RUNS))
    yield sink
    await sink.server.close()


async def test_metrics_series_bounded(sink_with_many_runs):
    samples = await scrape(sink_with_many_runs.url)
    summary = samples["metrics_sink_run_summary"]
    exported = {sample.labels["metricset"] for sample in summary}
    # Run uid-N ended N seconds ago, so the newest MAX_METRICSETS are set-0 .. set-99.
    newest = {f"set-{index}" for index in range(MAX_METRICSETS)}

    assert len(summary) == MAX_METRICSETS * len(FIELDS) * len(SUMMARY_STATISTICS)
    assert exported == newest
    assert len(samples["metrics_sink_run_info"]) == MAX_METRICSETS
    assert samples["metrics_sink_metricsets_omitted"][0].value == STORED_RUNS - MAX_METRICSETS
