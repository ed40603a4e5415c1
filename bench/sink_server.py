"""A real ``metrics-operator sink`` subprocess on 127.0.0.1, and the sample batches the sink benchmarks send.

The sink runs as its own process, as in a pod, so its CPU time is its own and the
profile of one benchmark can be taken with ``py-spy record --pid``.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from metrics_operator.containers.catalog.perf_proc import METRIC as PERF_PROC
from metrics_operator.containers.common.writer import SampleColumns

VENV_BIN = Path(sys.executable).parent
LISTENING = re.compile(r"sink listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 120.0

# perf-proc's 13 fields: each sample the collector takes becomes 13 rows.
FIELDS = sorted(PERF_PROC.fields)


class SinkServer:
    """``metrics-operator sink`` on an ephemeral loopback port, with a bearer token and a log file."""

    def __init__(self, db_path: Path, work_dir: Path):
        self.db_path = db_path
        self.token = secrets.token_hex(16)
        self.token_file = work_dir / "sink-token"
        self.log_path = work_dir / "sink.log"
        self.url = ""
        self.process: subprocess.Popen | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> str:
        """Start the sink and wait until it logs its address; return its URL."""
        self.token_file.write_text(self.token + "\n")
        command = [
            str(VENV_BIN / "metrics-operator"), "sink", "--db", str(self.db_path),
            "--host", "127.0.0.1", "--port", "0", "--token-file", str(self.token_file),
        ]
        with self.log_path.open("w") as log_file:
            self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_text())
            if match:
                self.url = match.group(1)
                return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the sink did not start within {START_TIMEOUT_SECONDS:g} s; its log:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """Stop the sink with SIGTERM and wait until it has closed (and so checkpointed) its database."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"the sink did not stop within {STOP_TIMEOUT_SECONDS:g} s of SIGTERM") from None

    def __enter__(self) -> SinkServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_document(uid: str, name: str) -> dict:
    """Return a run registration body for POST /v1/runs."""
    return {"uid": uid, "namespace": "bench", "name": name, "status": "Running", "startedAt": time.time()}


def sample_batch(pod: str, first_sample: int, samples: int, start_time: float) -> SampleColumns:
    """Build ``samples`` perf-proc samples of one pod (13 rows each), as a collector's writer buffers them.

    Sample ``i`` is taken at ``start_time + i`` seconds, as a collector sampling once a second would.
    """
    rows = samples * len(FIELDS)
    generator = random.Random(first_sample)
    return SampleColumns(
        metric=["perf-proc"] * rows,
        pod=[pod] * rows,
        series=["total"] * rows,
        field=FIELDS * samples,
        timestamp=[start_time + index for index in range(first_sample, first_sample + samples) for _ in FIELDS],
        value=[generator.gammavariate(2.0, 50.0) for _ in range(rows)],
    )


def file_bytes(path: Path) -> int:
    """Return the size of a DuckDB file and its write-ahead log, in bytes."""
    total = 0
    for candidate in (path, path.with_name(path.name + ".wal")):
        if candidate.exists():
            total += os.path.getsize(candidate)
    return total
