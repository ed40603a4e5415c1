"""io-fio: bandwidth, IOPS and completion latency of the storage volume, measured by fio."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, FieldSpec, MetricDefinition
from metrics_operator.containers.common.collector import Collector, CollectorError

SIZE_PATTERN = r"^[0-9]+[kKmMgGtT]?[iI]?[bB]?$"
PERCENTILES = {"p50": "50.000000", "p95": "95.000000", "p99": "99.000000"}


class FioOptions(ApiModel):
    """Options of io-fio, passed to fio as the flags of the same name."""

    rw: Literal["read", "write", "randread", "randwrite", "rw", "randrw"] = Field(
        "randrw", description="I/O pattern (fio --rw)."
    )
    block_size: str = Field("4k", pattern=SIZE_PATTERN, description="Block size, e.g. 4k or 1M (fio --bs).")
    size: str = Field("64M", pattern=SIZE_PATTERN, description="Bytes of I/O per job, e.g. 64M or 1G (fio --size).")
    iodepth: int = Field(16, ge=1, le=1024, description="I/O requests kept in flight (fio --iodepth).")
    numjobs: int = Field(1, ge=1, le=64, description="Parallel jobs (fio --numjobs).")
    runtime: int | None = Field(
        None, ge=1, le=86400, description="Seconds to run, repeating the I/O; unset runs size once (fio --runtime)."
    )
    direct: bool = Field(False, description="Bypass the page cache with O_DIRECT; tmpfs does not support it (fio --direct).")
    ioengine: Literal["libaio", "io_uring", "psync", "sync", "posixaio"] = Field(
        "libaio", description="fio I/O engine (fio --ioengine)."
    )


def fio_command(options: FioOptions, directory: Path) -> list[str]:
    """Build the fio command line for one run in ``directory``."""
    command = [
        "fio",
        "--name=metrics-operator",
        f"--directory={directory}",
        f"--rw={options.rw}",
        f"--bs={options.block_size}",
        f"--size={options.size}",
        f"--iodepth={options.iodepth}",
        f"--numjobs={options.numjobs}",
        f"--direct={int(options.direct)}",
        f"--ioengine={options.ioengine}",
        "--group_reporting",
        "--output-format=json",
    ]
    if options.runtime is not None:
        command += [f"--runtime={options.runtime}", "--time_based"]
    return command


def parse_fio_report(report: dict[str, Any]) -> dict[str, float]:
    """Extract bandwidth, IOPS, bytes and latency per direction from fio's JSON report.

    Only directions that moved data are returned, so a write-only run has no read fields.
    """
    jobs = report.get("jobs") or []
    if not jobs:
        raise CollectorError("fio reported no jobs")
    job = jobs[0]
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
        raise CollectorError("fio moved no data; check the size and runtime options")
    return values


class FioCollector(Collector):
    """Runs fio ``completions`` times (at least once), ``rate`` seconds apart."""

    async def collect(self) -> None:
        storage = self.context.storage_path
        if storage is None:
            raise CollectorError("metric 'io-fio' needs spec.storage.volume to measure")
        if shutil.which("fio") is None:
            raise CollectorError("fio is not installed: install the Debian package 'fio'")
        if not storage.is_dir():
            raise CollectorError(f"storage path {storage} does not exist or is not a folder")

        runs = max(1, self.metric.completions)
        for index in range(runs):
            if index:
                await asyncio.sleep(self.metric.rate)
            await self._run_once(storage)

    async def _run_once(self, storage: Path) -> None:
        # fio's files go in a folder of their own, removed even when fio fails or is cancelled.
        work_dir = storage / f".metrics-operator-fio-{uuid.uuid4().hex[:12]}"
        work_dir.mkdir()
        try:
            command = fio_command(self.options, work_dir)
            self.log.info("running %s", " ".join(command))
            process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            try:
                stdout, stderr = await process.communicate()
            except asyncio.CancelledError:
                process.kill()
                await process.wait()
                raise
            if process.returncode != 0:
                message = stderr.decode(errors="replace").strip().splitlines()
                raise CollectorError(
                    f"fio failed with status {process.returncode}: {message[-1] if message else 'no output'}"
                )
            report = json.loads(stdout[stdout.index(b"{") :])
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

        values = parse_fio_report(report)
        self.writer.add_sample(self.name, values)
        self.writer.add_result(
            self.name, {"fioVersion": report.get("fio version"), "options": self.metric.options, "jobs": report["jobs"]}
        )


METRIC = MetricDefinition(
    name="io-fio",
    family=Family.STORAGE,
    summary="Read and write bandwidth, IOPS and completion-latency percentiles of the storage volume, "
    "measured by running fio on it; fio's files are removed afterwards.",
    options=FioOptions,
    image="metrics-operator/io",
    collector=FioCollector,
    tools=("fio",),
    fields={
        **{
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
    },
)
