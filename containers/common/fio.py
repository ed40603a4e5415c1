"""Run fio in a folder of its own on the storage volume and read its JSON report.

Shared by io-fio (one workload, repeated) and io-fio-profiles (several workloads in one
fio run, one report entry per profile).
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

from metrics_operator.api.registry import FieldSpec
from metrics_operator.containers.common.collector import CollectorError
from metrics_operator.containers.common.process import run_tool

SIZE_PATTERN = r"^[0-9]+[kKmMgGtT]?[iI]?[bB]?$"
PERCENTILES = {"p50": "50.000000", "p95": "95.000000", "p99": "99.000000"}
IoEngine = Literal["libaio", "io_uring", "psync", "sync", "posixaio"]

# The fields both fio metrics store, per direction.
FIO_FIELDS = {
    f"{direction}_{name}": FieldSpec(unit, f"{direction} {text}")
    for direction in ("read", "write")
    for name, unit, text in [
        ("bandwidth_bytes_per_second", "bytes/s", "bandwidth"),
        ("iops", "1/s", "I/O operations per second"),
        ("bytes", "bytes", "bytes transferred"),
        ("latency_mean_us", "us", "mean completion latency"),
        ("latency_p50_us", "us", "median completion latency"),
        ("latency_p95_us", "us", "95th percentile completion latency"),
        ("latency_p99_us", "us", "99th percentile completion latency"),
    ]
}


def check_storage(metric: str, storage: Path | None) -> Path:
    """Return the storage folder, or raise CollectorError saying what is missing."""
    if storage is None:
        raise CollectorError(f"metric {metric!r} needs spec.storage.volume to measure")
    if shutil.which("fio") is None:
        raise CollectorError("fio is not installed: install the Debian package 'fio'")
    if not storage.is_dir():
        raise CollectorError(f"storage path {storage} does not exist or is not a folder")
    return storage


def shared_arguments(
    directory: Path, *, size: str, iodepth: int, direct: bool, ioengine: str, runtime: int | None
) -> list[str]:
    """Build the fio arguments both fio metrics pass: where, how much, and how the I/O is issued."""
    arguments = [
        f"--directory={directory}",
        f"--size={size}",
        f"--iodepth={iodepth}",
        f"--direct={int(direct)}",
        f"--ioengine={ioengine}",
        "--group_reporting",
        "--output-format=json",
    ]
    if runtime is not None:
        arguments += [f"--runtime={runtime}", "--time_based"]
    return arguments


def parse_fio_job(job: dict[str, Any]) -> dict[str, float]:
    """Extract bandwidth, IOPS, bytes and latency per direction from one job of fio's JSON report.

    Only directions that moved data are returned, so a write-only job has no read fields.
    """
    values: dict[str, float] = {}
    for direction in ("read", "write"):
        stats = job.get(direction) or {}
        if not stats.get("io_bytes"):
            continue
        values[f"{direction}_bandwidth_bytes_per_second"] = float(stats["bw_bytes"])
        values[f"{direction}_iops"] = float(stats["iops"])
        values[f"{direction}_bytes"] = float(stats["io_bytes"])
        latency = stats.get("clat_ns") or {}
        values[f"{direction}_latency_mean_us"] = float(latency.get("mean", 0.0)) / 1000.0
        percentiles = latency.get("percentile") or {}
        for name, key in PERCENTILES.items():
            if key in percentiles:
                values[f"{direction}_latency_{name}_us"] = float(percentiles[key]) / 1000.0
    if not values:
        raise CollectorError(
            f"fio job {job.get('jobname')!r} moved no data; check the size and runtime options"
        )
    return values


def fio_jobs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the jobs of fio's JSON report, raising CollectorError if there are none."""
    jobs = report.get("jobs") or []
    if not jobs:
        raise CollectorError("fio reported no jobs")
    return jobs


async def run_fio(storage: Path, build_command, log: logging.LoggerAdapter) -> dict[str, Any]:
    """Run fio in a new folder under ``storage`` and return its JSON report.

    ``build_command`` takes the folder and returns fio's argument list. The folder and
    fio's files are removed afterwards, also when fio fails or the run is cancelled.
    """
    work_dir = storage / f".metrics-operator-fio-{uuid.uuid4().hex[:12]}"
    work_dir.mkdir()
    try:
        command = build_command(work_dir)
        log.info("running %s", " ".join(command))
        output = await run_tool(command)
        if output.returncode != 0:
            raise CollectorError(f"fio failed with status {output.returncode}: {output.last_error_line()}")
        # fio may print warnings before the JSON document.
        return json.loads(output.stdout[output.stdout.index(b"{") :])
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
