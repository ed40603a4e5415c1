"""io-fio: bandwidth, IOPS and completion latency of the storage volume, measured by fio."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, MetricDefinition, Tool
from metrics_operator.containers.common.collector import Collector
from metrics_operator.containers.common.fio import (
    FIO_FIELDS,
    SIZE_PATTERN,
    IoEngine,
    check_storage,
    fio_jobs,
    parse_fio_job,
    run_fio,
    shared_arguments,
)


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
    ioengine: IoEngine = Field(
        "libaio", description="fio I/O engine (fio --ioengine)."
    )


def fio_command(options: FioOptions, directory: Path) -> list[str]:
    """Build the fio command line for one run in ``directory``."""
    options_by_name = options.model_dump(include={"size", "iodepth", "direct", "ioengine", "runtime"})
    return [
        "fio",
        "--name=metrics-operator",
        f"--rw={options.rw}",
        f"--bs={options.block_size}",
        f"--numjobs={options.numjobs}",
        *shared_arguments(directory, **options_by_name),
    ]


def parse_fio_report(report: dict[str, Any]) -> dict[str, float]:
    """Extract bandwidth, IOPS, bytes and latency per direction from fio's grouped JSON report."""
    return parse_fio_job(fio_jobs(report)[0])


class FioCollector(Collector):
    """Runs fio ``completions`` times (at least once), ``rate`` seconds apart."""

    async def collect(self) -> None:
        storage = check_storage(self.name, self.context.storage_path)
        runs = max(1, self.metric.completions)
        for index in range(runs):
            if index:
                await asyncio.sleep(self.metric.rate)
            await self._run_once(storage)

    async def _run_once(self, storage: Path) -> None:
        report = await run_fio(storage, lambda work_dir: fio_command(self.options, work_dir), self.log)
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
    tools=(Tool(command="fio", package="fio"),),
    fields=FIO_FIELDS,
)
