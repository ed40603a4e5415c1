"""Helpers shared by the catalog tests: run MetricSets locally, pick folders and ports."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from metrics_operator.api import parse_metricset
from metrics_operator.api.metricset import MetricSet
from metrics_operator.local.runner import LocalRunner, LocalRunResult, StoreRecorder
from metrics_operator.sink.store import Store, StoreDestination

# Filesystems without a block device behind them; io-stat stores no device fields there.
DEVICELESS_FILESYSTEMS = {"tmpfs", "overlay", "ramfs", "devtmpfs", "nfs", "nfs4", "fuse", "9p"}
REPOSITORY = Path(__file__).resolve().parents[2]


def metricset(name: str, spec: dict) -> MetricSet:
    return parse_metricset(
        {"apiVersion": "metrics-operator.io/v1alpha1", "kind": "MetricSet", "metadata": {"name": name}, "spec": spec}
    )


async def run_metricset(store: Store, metricset: MetricSet, process_timeout: float = 20.0) -> LocalRunResult:
    """Run one MetricSet through the real local runner into ``store``."""
    run_uid = str(uuid.uuid4())
    runner = LocalRunner(
        metricset=metricset,
        destination=StoreDestination(store, run_uid),
        recorder=StoreRecorder(store),
        process_timeout=process_timeout,
        run_uid=run_uid,
    )
    return await runner.run()


def unique_marker() -> str:
    """Return an argument that makes a command line unique, so collectors find only this test's process."""
    return f"marker-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def filesystem_type(path: Path) -> str:
    """Return the filesystem type of ``path`` as df reports it."""
    output = subprocess.run(
        ["df", "--output=fstype", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return output.split()[-1]


def block_device_folder() -> Path:
    """Create a scratch folder on a filesystem with a block device (not tmpfs), checked with df."""
    for parent in (Path("/var/tmp"), REPOSITORY / ".pytest_cache"):
        parent.mkdir(parents=True, exist_ok=True)
        if filesystem_type(parent) not in DEVICELESS_FILESYSTEMS:
            return Path(tempfile.mkdtemp(prefix="metrics-operator-test-", dir=parent))
    raise AssertionError(
        "no folder on a block device found (tried /var/tmp and the repository): "
        "io-stat's device fields need one; run the tests on a machine with a local disk"
    )
