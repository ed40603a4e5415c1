"""``metrics-operator local --sink``: a real run pushed over HTTP to a real sink subprocess."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
from sink_helpers import VENV_BIN, cli_environment

from metrics_operator.sink.store import SUMMARY_STATISTICS, Store

METRICSET = """\
apiVersion: metrics-operator.io/v1alpha1
kind: MetricSet
metadata:
  name: short-cpu
  namespace: bench
spec:
  application:
    image: ghcr.io/colinianking/stress-ng:latest
    command: stress-ng --cpu 1 --timeout 3s
  metrics:
    - name: perf-proc
      rate: 0.5
    - name: app-timing
"""
RUN_TIMEOUT_SECONDS = 120


@pytest.mark.tools
async def test_local_run_pushed_to_sink(sink_process, token_file: Path, tmp_path: Path, auth_headers):
    assert shutil.which("stress-ng"), "stress-ng is missing: apt-get install stress-ng"
    url = sink_process.start()
    manifest = tmp_path / "short-cpu.yaml"
    manifest.write_text(METRICSET)

    completed = subprocess.run(
        [str(VENV_BIN / "metrics-operator"), "local", str(manifest), "--sink", url, "--sink-token-file", str(token_file), "--quiet"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, env=cli_environment(),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr

    async with aiohttp.ClientSession(headers=auth_headers) as http:
        runs = (await (await http.get(url + "/v1/runs", params={"name": "short-cpu", "namespace": "bench"})).json())["runs"]
        assert len(runs) == 1
        uid = runs[0]["uid"]
        served = (await (await http.get(f"{url}/v1/runs/{uid}/summary")).json())["summary"]
    sink_process.stop()

    with Store(sink_process.db_path, read_only=True) as store:
        stored = store.summary(uid)
        run = store.get_run(uid)
    by_field = {(row["metric"], row["field"]): row for row in served}

    assert run.status == "Succeeded"
    assert run.ended_at > run.started_at
    assert uid in completed.stdout
    assert by_field[("perf-proc", "cpu_percent")]["count"] >= 2
    assert by_field[("app-timing", "duration_seconds")]["count"] == 1
    assert by_field[("app-timing", "exit_code")]["max"] == 0
    assert [(row["metric"], row["field"]) for row in served] == [(row["metric"], row["field"]) for row in stored]
    for served_row, stored_row in zip(served, stored):
        for statistic in SUMMARY_STATISTICS:
            assert served_row[statistic] == pytest.approx(stored_row[statistic], rel=1e-12), (served_row["field"], statistic)


def test_local_sink_url_invalid(tmp_path: Path):
    manifest = tmp_path / "short-cpu.yaml"
    manifest.write_text(METRICSET)

    completed = subprocess.run(
        [str(VENV_BIN / "metrics-operator"), "local", str(manifest), "--sink", "127.0.0.1:8080", "--quiet"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, env=cli_environment(),
    )

    assert completed.returncode == 2
    assert "invalid sink URL '127.0.0.1:8080'" in completed.stderr
