"""io-fio-profiles: a set of standard fio workloads on the storage volume in one run, one result per profile.

IOR is not packaged in Debian 12 (``apt-cache policy ior`` lists no candidate), so this
metric covers what users reach for IOR for, sequential and random throughput, with the
fio that the io image already ships. The profiles run one after another in one fio
process (``--stonewall`` between jobs), so they do not compete for the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, MetricDefinition, Tool
from metrics_operator.containers.catalog.io_fio import FioCollector
from metrics_operator.containers.common.collector import CollectorError
from metrics_operator.containers.common.fio import FIO_FIELDS, SIZE_PATTERN, IoEngine, fio_jobs, parse_fio_job, run_fio, shared_arguments

ProfileName = Literal["seq-read", "seq-write", "rand-read", "rand-write"]
# fio --rw of each profile, and whether it uses the sequential or the random block size.
PROFILES: dict[str, tuple[str, str]] = {
    "seq-read": ("read", "sequential"),
    "seq-write": ("write", "sequential"),
    "rand-read": ("randread", "random"),
    "rand-write": ("randwrite", "random"),
}


class FioProfilesOptions(ApiModel):
    """Options of io-fio-profiles; size, depth and engine apply to every profile."""

    profiles: list[ProfileName] = Field(
        list(PROFILES),
        min_length=1,
        max_length=len(PROFILES),
        description="Profiles to run, in this order.",
    )
    sequential_block_size: str = Field(
        "1M", pattern=SIZE_PATTERN, description="Block size of seq-read and seq-write, e.g. 1M (fio --bs)."
    )
    random_block_size: str = Field(
        "4k", pattern=SIZE_PATTERN, description="Block size of rand-read and rand-write, e.g. 4k (fio --bs)."
    )
    size: str = Field("64M", pattern=SIZE_PATTERN, description="Bytes of I/O per profile, e.g. 64M or 1G (fio --size).")
    iodepth: int = Field(16, ge=1, le=1024, description="I/O requests kept in flight (fio --iodepth).")
    runtime: int | None = Field(
        None, ge=1, le=86400,
        description="Seconds each profile runs, repeating its I/O; unset runs size once (fio --runtime).",
    )
    direct: bool = Field(
        True, description="Bypass the page cache with O_DIRECT, so reads hit the device; tmpfs does not support it (fio --direct)."
    )
    ioengine: IoEngine = Field("libaio", description="fio I/O engine (fio --ioengine).")


def profiles_command(options: FioProfilesOptions, directory: Path) -> list[str]:
    """Build one fio command that runs every profile in turn in ``directory``."""
    options_by_name = options.model_dump(include={"size", "iodepth", "direct", "ioengine", "runtime"})
    command = ["fio", *shared_arguments(directory, **options_by_name)]
    for profile in dict.fromkeys(options.profiles):
        rw, kind = PROFILES[profile]
        block_size = options.sequential_block_size if kind == "sequential" else options.random_block_size
        # Options after --name belong to that job; --stonewall waits for the previous job to end.
        command += [f"--name={profile}", f"--rw={rw}", f"--bs={block_size}", "--stonewall"]
    return command


class FioProfilesCollector(FioCollector):
    """Runs the profiles ``completions`` times (at least once), ``rate`` seconds apart."""

    async def _run_once(self, storage: Path) -> None:
        report = await run_fio(storage, lambda work_dir: profiles_command(self.options, work_dir), self.log)
        for job in fio_jobs(report):
            profile = job.get("jobname")
            if profile not in PROFILES:
                raise CollectorError(f"fio reported an unexpected job {profile!r}")
            self.writer.add_sample(self.name, parse_fio_job(job), series=profile)
            self.writer.add_result(
                self.name,
                {"profile": profile, "fioVersion": report.get("fio version"), "options": self.metric.options, "job": job},
            )


METRIC = MetricDefinition(
    name="io-fio-profiles",
    family=Family.STORAGE,
    summary="Bandwidth, IOPS and completion-latency percentiles of the storage volume for a set of fio "
    "profiles (sequential and random, read and write) run one after another; one result per profile, "
    "stored with the profile name as the series. fio's files are removed afterwards.",
    options=FioProfilesOptions,
    image="metrics-operator/io",
    collector=FioProfilesCollector,
    tools=(Tool(command="fio", package="fio"),),
    fields=FIO_FIELDS,
)
