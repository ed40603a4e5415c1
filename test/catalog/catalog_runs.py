"""Helpers shared by the catalog tests: run MetricSets locally, pick folders and ports."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path

from localrun import metricset, run_metricset, unique_marker  # noqa: F401 - shared with test/local

# Filesystems without a block device behind them; io-stat stores no device fields there.
DEVICELESS_FILESYSTEMS = {"tmpfs", "overlay", "ramfs", "devtmpfs", "nfs", "nfs4", "fuse", "9p"}
REPOSITORY = Path(__file__).resolve().parents[2]


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
