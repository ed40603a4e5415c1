"""``python -m metrics_operator.containers``: the metric container's entrypoint on real processes.

The test plays the application's wrapper: it runs a short ``sleep`` and writes the
exit status file the collectors read, as the wrapper in a pod does.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from sink_helpers import TOKEN

from metrics_operator.containers.common.application import write_exit_status

ENTRYPOINT_TIMEOUT_SECONDS = 60


def container_environment(shared_dir: Path, metric: dict, command: str, sink_url: str | None) -> dict[str, str]:
    environment = {
        "MO_METRIC": json.dumps(metric),
        "MO_RUN_UID": "uid-entrypoint",
        "MO_NAMESPACE": "bench",
        "MO_METRICSET": "entry",
        "MO_POD_NAME": "entry-0",
        "MO_APP_COMMAND": command,
        "MO_SHARED_DIR": str(shared_dir),
        "MO_PROCESS_TIMEOUT": "20",
        "PATH": "/usr/bin:/bin",
    }
    if sink_url:
        environment |= {"MO_SINK_URL": sink_url, "MO_SINK_TOKEN": TOKEN}
    return environment


async def run_entrypoint(environment: dict[str, str], application: str | None, exit_code: int, shared_dir: Path):
    """Start the entrypoint, then the application as its wrapper would; return (exit code, log)."""
    entrypoint = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metrics_operator.containers",
        env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    if application is not None:
        process = await asyncio.create_subprocess_exec(*application.split())
        await process.wait()
        write_exit_status(shared_dir, exit_code)
    output, _ = await asyncio.wait_for(entrypoint.communicate(), ENTRYPOINT_TIMEOUT_SECONDS)
    return entrypoint.returncode, output.decode()


def summary_line(log: str) -> dict:
    for line in log.splitlines():
        if '"event": "metric-finished"' in line:
            return json.loads(line[line.index("{"):])
    raise AssertionError(f"no metric-finished line in:\n{log}")


async def test_entrypoint_pushes_to_sink(sink, http, tmp_path):
    command = "sleep 2.37"
    environment = container_environment(tmp_path, {"name": "perf-proc", "rate": 0.5}, command, sink.url)

    code, log = await run_entrypoint(environment, command, 0, tmp_path)
    run = await (await http.get(sink.url + "/v1/runs/uid-entrypoint")).json()

    assert code == 0, log
    assert run["status"] == "Succeeded"
    assert run["namespace"] == "bench"
    assert run["sampleCount"] > 0
    assert summary_line(log)["samples"] > 0
    assert run["endedAt"] > run["startedAt"]


async def test_entrypoint_reports_failed_application(sink, http, tmp_path):
    command = "sleep 1.13"
    environment = container_environment(tmp_path, {"name": "app-timing"}, command, sink.url)

    code, log = await run_entrypoint(environment, command, 3, tmp_path)
    run = await (await http.get(sink.url + "/v1/runs/uid-entrypoint")).json()
    results = await (await http.get(sink.url + "/v1/runs/uid-entrypoint/results")).json()

    assert code == 1, log
    assert run["status"] == "Failed"
    assert "application exited with status 3" in run["message"]
    assert results["results"][0]["data"]["exitCode"] == 3


async def test_entrypoint_without_sink_logs(tmp_path):
    command = "sleep 1.17"
    environment = container_environment(tmp_path, {"name": "app-timing"}, command, None)

    code, log = await run_entrypoint(environment, command, 0, tmp_path)

    assert code == 0, log
    assert summary_line(log)["metric"] == "app-timing"
    assert "MO_SINK_URL" in log


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"MO_METRIC": "{not json"}, "MO_METRIC is not valid JSON"),
        ({"MO_METRIC": '{"name": "perf-pro"}'}, "unknown metric 'perf-pro'"),
        ({"MO_METRIC": '{"name": "perf-proc", "rate": -1}'}, "rate"),
        ({"MO_METRIC": '{"name": "perf-proc", "options": {"includeKids": true}}'}, "unknown option 'includeKids'"),
        ({"MO_RUN_UID": ""}, "MO_RUN_UID is missing"),
        ({"MO_POD_INDEX": "first"}, "MO_POD_INDEX='first' is invalid"),
        ({"MO_POD_INDEX": "2", "MO_PODS": "2"}, "must be below MO_PODS=2"),
        ({"MO_SINK_URL": "127.0.0.1:8080"}, "invalid sink URL '127.0.0.1:8080'"),
    ],
    ids=["json", "unknown-metric", "bad-rate", "unknown-option", "no-uid", "pod-index-text", "pod-index-range", "sink-url"],
)
async def test_entrypoint_rejects_invalid_environment(tmp_path, changes, message):
    environment = container_environment(tmp_path, {"name": "perf-proc"}, "sleep 1", None) | changes

    code, log = await run_entrypoint(environment, None, 0, tmp_path)

    assert code == 2, log
    assert message in log


async def test_entrypoint_sigterm_keeps_samples(sink, http, tmp_path):
    command = "sleep 30.41"
    environment = container_environment(tmp_path, {"name": "perf-proc", "rate": 0.5}, command, sink.url)
    application = await asyncio.create_subprocess_exec(*command.split())
    entrypoint = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metrics_operator.containers",
        env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        # Wait, bounded, until the collector has taken samples, then stop it as the kubelet would.
        lines = []
        while not any("found application" in line for line in lines):
            line = await asyncio.wait_for(entrypoint.stdout.readline(), ENTRYPOINT_TIMEOUT_SECONDS)
            assert line, "".join(lines)
            lines.append(line.decode())
        await asyncio.sleep(2.0)
        entrypoint.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(entrypoint.communicate(), ENTRYPOINT_TIMEOUT_SECONDS)
    finally:
        application.kill()
        await application.wait()
    log = "".join(lines) + rest.decode()
    run = await (await http.get(sink.url + "/v1/runs/uid-entrypoint")).json()

    assert entrypoint.returncode == 1, log
    assert run["status"] == "Failed"
    assert "stopped by SIGTERM" in run["message"]
    assert run["sampleCount"] > 0
    assert summary_line(log)["samples"] > 0
