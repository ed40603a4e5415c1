"""io-stat: capacity and inodes of the storage volume's filesystem and I/O of its block device, like iostat.

It samples beside the pod's other metrics (typically io-fio, or an application writing
to the volume) and stops when they finish, or after ``completions`` samples.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from pydantic import Field

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, FieldSpec, MetricDefinition
from metrics_operator.containers.common import blockdev
from metrics_operator.containers.common.blockdev import SECTOR_BYTES, DiskCounters
from metrics_operator.containers.common.collector import CollectorError, PeriodicCollector


class IoStatOptions(ApiModel):
    """Options of io-stat."""

    device: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]+$",
        max_length=64,
        description="Block device name in /proc/diskstats (e.g. sda1 or dm-0) to read instead of the one "
        "found from the volume's mount; unset finds it.",
    )


def filesystem_values(path: Path) -> dict[str, float]:
    """Capacity, usage and inodes of the filesystem holding ``path``, from statvfs(3)."""
    stats = os.statvfs(path)
    return {
        "capacity_bytes": float(stats.f_blocks * stats.f_frsize),
        "used_bytes": float((stats.f_blocks - stats.f_bfree) * stats.f_frsize),
        # What an unprivileged writer can still use, as df shows it.
        "free_bytes": float(stats.f_bavail * stats.f_frsize),
        "inodes_used": float(stats.f_files - stats.f_ffree),
        "inodes_free": float(stats.f_favail),
    }


def device_values(before: DiskCounters, after: DiskCounters, elapsed: float) -> dict[str, float]:
    """Rates, latencies and utilisation of a block device over one interval of ``elapsed`` seconds."""
    reads = after.reads - before.reads
    writes = after.writes - before.writes
    io_ms = after.io_ms - before.io_ms
    weighted_ms = after.weighted_io_ms - before.weighted_io_ms
    return {
        "reads_per_second": reads / elapsed,
        "writes_per_second": writes / elapsed,
        "read_bytes_per_second": (after.read_sectors - before.read_sectors) * SECTOR_BYTES / elapsed,
        "write_bytes_per_second": (after.write_sectors - before.write_sectors) * SECTOR_BYTES / elapsed,
        # Zero when no request completed, as iostat shows it.
        "read_await_ms": (after.read_ms - before.read_ms) / reads if reads else 0.0,
        "write_await_ms": (after.write_ms - before.write_ms) / writes if writes else 0.0,
        "io_time_ms": float(io_ms),
        "weighted_io_time_ms": float(weighted_ms),
        "average_queue_size": weighted_ms / (elapsed * 1000.0),
        "utilisation_percent": min(100.0, 100.0 * io_ms / (elapsed * 1000.0)),
        "in_flight": float(after.in_flight),
    }


class IoStatCollector(PeriodicCollector):
    """Samples the volume's filesystem and block device every ``rate`` seconds until stopped."""

    async def wait_until_ready(self) -> None:
        storage = self.context.storage_path
        if storage is None:
            raise CollectorError("metric 'io-stat' needs spec.storage.volume to measure")
        if not storage.is_dir():
            raise CollectorError(f"storage path {storage} does not exist or is not a folder")
        self._storage = storage
        self._device = await asyncio.to_thread(self._find_device, storage)

    async def wait_for_end(self, timeout: float) -> bool:
        if self.context.stop.is_set():
            return True
        try:
            await asyncio.wait_for(self.context.stop.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _find_device(self, storage: Path) -> tuple[int, int] | None:
        mount = blockdev.find_mount(storage)
        diskstats = blockdev.read_diskstats()
        if self.options.device is not None:
            device = next((key for key, counters in diskstats.items() if counters.name == self.options.device), None)
            if device is None:
                names = ", ".join(sorted(counters.name for counters in diskstats.values()))
                raise CollectorError(
                    f"device {self.options.device!r} (option device) is not in /proc/diskstats; known devices: {names}"
                )
        else:
            device = blockdev.find_block_device(mount, diskstats)
        name = diskstats[device].name if device else None
        if device is None:
            self.log.warning(
                "%s is on %s (%s), which has no block device: io-stat stores filesystem fields only",
                storage, mount.source, mount.filesystem,
            )
        else:
            self.log.info("%s is on %s (%s), block device %s", storage, mount.source, mount.filesystem, name)
        self.writer.add_result(
            self.name,
            {
                "path": str(storage),
                "mountPoint": mount.mount_point,
                "filesystem": mount.filesystem,
                "source": mount.source,
                "blockDevice": name,
            },
        )
        return device

    async def start(self) -> None:
        self._first = self._previous = await asyncio.to_thread(self._read_device)
        self._previous_time = time.monotonic()

    def _read_device(self) -> DiskCounters | None:
        if self._device is None:
            return None
        return blockdev.read_diskstats().get(self._device)

    def sample(self, elapsed: float) -> dict[str, float] | None:
        values = filesystem_values(self._storage)
        now = time.monotonic()
        counters = self._read_device()
        if counters is not None and self._previous is not None and now > self._previous_time:
            values.update(device_values(self._previous, counters, now - self._previous_time))
            values["read_bytes"] = float((counters.read_sectors - self._first.read_sectors) * SECTOR_BYTES)
            values["written_bytes"] = float((counters.write_sectors - self._first.write_sectors) * SECTOR_BYTES)
        self._previous, self._previous_time = counters, now
        return values

    async def collect(self) -> None:
        await super().collect()
        # The other metrics may have written right up to the end, so take one last sample.
        if self.context.stop.is_set():
            values = await asyncio.to_thread(self.sample, 0.0)
            self.writer.add_sample(self.name, values)


METRIC = MetricDefinition(
    name="io-stat",
    family=Family.STORAGE,
    summary="Capacity, usage and inodes of the storage volume's filesystem (statvfs) and, when it is on a "
    "block device, that device's reads, writes, bytes, latency, queue size and utilisation from "
    "/proc/diskstats, every rate seconds until the pod's other metrics finish. The device counts "
    "all I/O to it, not only the pod's. tmpfs, overlay and network filesystems have no block device, "
    "so only the filesystem fields are stored for them.",
    options=IoStatOptions,
    image="metrics-operator/io",
    collector=IoStatCollector,
    companion=True,
    fields={
        "capacity_bytes": FieldSpec("bytes", "size of the filesystem"),
        "used_bytes": FieldSpec("bytes", "bytes in use on the filesystem"),
        "free_bytes": FieldSpec("bytes", "bytes available to unprivileged writers (as df shows)"),
        "inodes_used": FieldSpec("count", "inodes in use (0 on filesystems without an inode limit)"),
        "inodes_free": FieldSpec("count", "inodes available to unprivileged writers"),
        "reads_per_second": FieldSpec("1/s", "read requests completed by the device"),
        "writes_per_second": FieldSpec("1/s", "write requests completed by the device"),
        "read_bytes_per_second": FieldSpec("bytes/s", "bytes read from the device (sectors x 512)"),
        "write_bytes_per_second": FieldSpec("bytes/s", "bytes written to the device (sectors x 512)"),
        "read_bytes": FieldSpec("bytes", "bytes read from the device since io-stat started"),
        "written_bytes": FieldSpec("bytes", "bytes written to the device since io-stat started"),
        "read_await_ms": FieldSpec("ms", "mean time a read request took, queue included (r_await)"),
        "write_await_ms": FieldSpec("ms", "mean time a write request took, queue included (w_await)"),
        "io_time_ms": FieldSpec("ms", "time the device was busy during the interval"),
        "weighted_io_time_ms": FieldSpec("ms", "request time summed over all requests in flight during the interval"),
        "average_queue_size": FieldSpec("count", "mean requests in flight (aqu-sz)"),
        "utilisation_percent": FieldSpec("%", "share of the interval the device was busy (%util)"),
        "in_flight": FieldSpec("count", "requests in flight when sampled"),
    },
)
