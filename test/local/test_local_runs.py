"""Local mode end to end: fio on a real folder, failing applications, the CLI and its database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from localrun import metricset_document, run_local, summary_by_field, unique_marker, write_yaml

from metrics_operator.containers.catalog.io_fio import parse_fio_report
from metrics_operator.containers.common.application import Application, ApplicationNotFound
from metrics_operator.sink.store import Store

REPOSITORY = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "metrics_operator.cli"]


async def test_fio_results_from_real_run(store, tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    result = await run_local(store, "fio", {
        "storage": {"volume": {"hostPath": str(volume)}},
        "metrics": [{"name": "io-fio", "options": {"rw": "randrw", "size": "8M", "ioengine": "psync"}}],
    })
    assert result.run.status == "Succeeded", result.run.message
    summary = summary_by_field(store, result.run.uid)
    for direction in ("read", "write"):
        assert summary[("io-fio", f"{direction}_iops")]["min"] > 0
        assert summary[("io-fio", f"{direction}_bandwidth_bytes_per_second")]["min"] > 0
        assert summary[("io-fio", f"{direction}_latency_p99_us")]["min"] >= summary[("io-fio", f"{direction}_latency_p50_us")]["min"]
    # randrw of 8 MiB moves 8 MiB in total between the two directions.
    moved = summary[("io-fio", "read_bytes")]["max"] + summary[("io-fio", "write_bytes")]["max"]
    assert moved == 8 * 1024 * 1024
    reports = store.results(result.run.uid, "io-fio")
    assert len(reports) == 1
    assert reports[0]["data"]["fioVersion"].startswith("fio-")
    assert list(volume.iterdir()) == [], "fio's test files were left behind"


async def test_fio_failure_cleans_up(store, tmp_path):
    # fio rejects a size below the block size, after the collector made its work folder.
    volume = tmp_path / "volume"
    volume.mkdir()
    result = await run_local(store, "fio-fails", {
        "storage": {"volume": {"hostPath": str(volume)}},
        "metrics": [{"name": "io-fio", "options": {"size": "4k", "blockSize": "1M", "ioengine": "psync"}}],
    })
    assert result.run.status == "Failed"
    assert "fio failed" in result.run.message
    assert "size too small" in result.run.message
    assert list(volume.iterdir()) == [], "fio's test files were left behind after a failure"


def test_fio_report_without_data_rejected():
    report = {"jobs": [{"read": {"io_bytes": 0}, "write": {"io_bytes": 0}}]}
    with pytest.raises(Exception, match="moved no data"):
        parse_fio_report(report)


async def test_failing_application_keeps_samples(store):
    command = f"sh -c 'sleep 2; exit 3' {unique_marker()}"
    result = await run_local(store, "fails", {
        "application": {"image": "busybox", "command": command},
        "metrics": [{"name": "perf-proc", "rate": 0.5}, {"name": "app-timing"}],
    })
    assert result.run.status == "Failed"
    assert "exited with status 3" in result.run.message
    assert result.exit_code == 3
    stored = store.get_run(result.run.uid)
    assert stored.status == "Failed"
    assert stored.ended_at is not None
    summary = summary_by_field(store, result.run.uid)
    # Sampled before the failure, and kept.
    assert summary[("perf-proc", "rss_bytes")]["count"] >= 2
    assert summary[("app-timing", "exit_code")]["max"] == 3


async def test_missing_command_fails_clearly(store):
    result = await run_local(store, "missing", {
        "application": {"image": "busybox", "command": f"no-such-program-{unique_marker()} --run"},
        "metrics": [{"name": "perf-proc", "rate": 0.5}],
    })
    assert result.run.status == "Failed"
    assert "exited with status 127" in result.run.message
    assert "not found" in result.run.message
    assert store.get_run(result.run.uid).status == "Failed"


async def test_process_never_appearing_times_out():
    command = f"never-started-{unique_marker()}"
    application = Application(command)
    with pytest.raises(ApplicationNotFound) as raised:
        await application.wait_for_start(timeout=0.5)
    assert command in str(raised.value)
    assert "within 0.5 s" in str(raised.value)


async def test_deadline_stops_run(store):
    result = await run_local(store, "deadline", {
        "deadlineSeconds": 2,
        "application": {"image": "busybox", "command": f"sh -c 'sleep 30' {unique_marker()}"},
        "metrics": [{"name": "perf-proc", "rate": 0.5}],
    })
    assert result.run.status == "Failed"
    assert "deadline of 2 s" in result.run.message
    assert result.run.ended_at - result.run.started_at < 10


def run_cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *arguments], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_example_then_results_json(tmp_path):
    database = tmp_path / "metrics.duckdb"
    run = run_cli("local", str(REPOSITORY / "examples" / "cpu-memory.yaml"), "--db", str(database), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "cpu_percent" in run.stdout
    assert "Succeeded" in run.stdout

    listed = run_cli("results", "--db", str(database), "--format", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert len(runs) == 1
    assert runs[0]["name"] == "stress-cpu-memory"
    assert runs[0]["status"] == "Succeeded"
    metrics = {row["metric"] for row in runs[0]["summary"]}
    assert metrics == {"perf-proc", "app-timing"}
    cpu = next(row for row in runs[0]["summary"] if row["field"] == "cpu_percent")
    assert cpu["max"] > 50


def test_cli_invalid_file_writes_nothing(tmp_path):
    database = tmp_path / "metrics.duckdb"
    document = metricset_document("bad", {"metrics": [{"name": "perf-proc", "rate": -1}]})
    path = write_yaml(tmp_path / "bad.yaml", document)
    run = run_cli("local", str(path), "--db", str(database), cwd=tmp_path)
    assert run.returncode == 2
    assert "spec.metrics[0].rate" in run.stderr
    assert not database.exists() or Store(database, read_only=True).list_runs() == []


def test_cli_failed_application_exit_code(tmp_path):
    database = tmp_path / "metrics.duckdb"
    document = metricset_document("fails", {
        "application": {"image": "busybox", "command": f"sh -c 'exit 4' {unique_marker()}"},
        "metrics": [{"name": "app-timing"}],
    })
    path = write_yaml(tmp_path / "fails.yaml", document)
    run = run_cli("local", str(path), "--db", str(database), cwd=tmp_path)
    assert run.returncode == 1
    assert "status 4" in run.stderr
    with Store(database, read_only=True) as store:
        runs = store.list_runs()
    assert [stored.status for stored in runs] == ["Failed"]


def test_cli_results_unknown_database(tmp_path):
    run = run_cli("results", "--db", str(tmp_path / "missing.duckdb"), cwd=tmp_path)
    assert run.returncode == 2
    assert "not found" in run.stderr


def test_cli_lists_catalog():
    run = subprocess.run([*CLI, "metrics", "--format", "json"], capture_output=True, text=True, timeout=60, env=os.environ)
    assert run.returncode == 0, run.stderr
    names = {metric["name"] for metric in json.loads(run.stdout)}
    assert {"perf-proc", "app-timing", "io-fio"} <= names


async def test_same_command_elsewhere_ignored(store):
    # An older process with the same command line, not started by this run (orphaned, so
    # not a descendant), must not be taken for the application.
    marker = unique_marker()
    # Two commands, so the shell stays and keeps the marker in its arguments.
    command = f"sh -c 'sleep 4; true' {marker}"
    subprocess.run(["sh", "-c", f"({command} &)"], check=True)
    await asyncio.sleep(2)
    result = await run_local(store, "scoped", {
        "application": {"image": "busybox", "command": command},
        "metrics": [{"name": "app-timing"}, {"name": "perf-proc", "rate": 0.5}],
    })
    assert result.run.status == "Succeeded", result.run.message
    timing = store.results(result.run.uid, "app-timing")[0]["data"]
    # The outsider started 2 s before this run. Start times from /proc are exact to the
    # second only (the boot time in /proc/stat is whole seconds), hence the 1 s margin.
    assert timing["startTime"] >= result.run.started_at - 1.0
    assert timing["endTime"] <= result.run.ended_at


def test_whole_words_match_only():
    from metrics_operator.containers.common.application import contains_words

    assert contains_words(["sleep", "30"], ["sleep", "30"])
    assert not contains_words(["sleep", "30"], ["sleep", "3"])
    assert not contains_words(["kube-apiserver", "--allow-privileged=true"], ["true"])
    assert contains_words(["sh", "-c", "stress-ng", "--cpu", "1"], ["stress-ng", "--cpu", "1"])
