"""Metric containers of one pod, run as real entrypoint processes sharing one folder.

A companion metric (io-stat) has no end of its own: it must stop once the pod's
other metrics (io-fio here) have finished, as it does in a storage pod.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from metrics_operator.containers.common.pod import DONE_FOLDER, peers_finished

# A guard against a hang, not a timing assertion.
HANG_GUARD_SECONDS = 120


def container_environment(shared_dir: Path, storage: Path, metric: dict) -> dict[str, str]:
    return {
        "MO_METRIC": json.dumps(metric),
        "MO_RUN_UID": "uid-pod",
        "MO_NAMESPACE": "default",
        "MO_METRICSET": "pod",
        "MO_POD_NAME": "pod-0",
        "MO_SHARED_DIR": str(shared_dir),
        "MO_STORAGE_PATH": str(storage),
        "MO_POD_METRICS": "io-fio,io-stat",
        "PATH": "/usr/bin:/bin",
    }


async def start_entrypoint(environment: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metrics_operator.containers",
        env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )


def summary_line(log: str) -> dict:
    for line in log.splitlines():
        if '"event": "metric-finished"' in line:
            return json.loads(line[line.index("{"):])
    raise AssertionError(f"no metric-finished line in:\n{log}")


async def test_companion_stops_after_peers(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    # io-stat needs a block device behind the folder, which tmp_path on tmpfs would not have.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as volume:
        storage = Path(volume)
        companion = await start_entrypoint(container_environment(shared, storage, {"name": "io-stat", "rate": 0.5}))
        fio = await start_entrypoint(container_environment(
            shared, storage, {"name": "io-fio", "options": {"size": "16M", "rw": "write", "ioengine": "psync"}}
        ))
        fio_output, _ = await asyncio.wait_for(fio.communicate(), HANG_GUARD_SECONDS)
        companion_output, _ = await asyncio.wait_for(companion.communicate(), HANG_GUARD_SECONDS)

    assert fio.returncode == 0, fio_output.decode()
    assert companion.returncode == 0, companion_output.decode()
    assert (shared / DONE_FOLDER / "io-fio").exists()
    assert (shared / DONE_FOLDER / "io-stat").exists()
    assert summary_line(companion_output.decode())["samples"] >= 1


def test_peers_finished_rules(tmp_path):
    assert not peers_finished(tmp_path, [], has_application=False)
    assert not peers_finished(tmp_path, ["io-fio"], has_application=False)
    (tmp_path / DONE_FOLDER).mkdir()
    (tmp_path / DONE_FOLDER / "io-fio").touch()
    assert peers_finished(tmp_path, ["io-fio"], has_application=False)
    assert not peers_finished(tmp_path, ["io-fio", "io-fio-profiles"], has_application=False)
