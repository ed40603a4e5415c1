"""io-stat on a real volume while fio writes to it, on tmpfs, and its device lookup."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from catalog_runs import block_device_folder, filesystem_type, metricset, run_metricset

from metrics_operator.containers.common.blockdev import parse_diskstats, parse_mountinfo
from metrics_operator.local.runner import LocalRunError, LocalRunner, StoreRecorder
from metrics_operator.sink.store import StoreDestination

MIB = 1024 * 1024


@pytest.fixture
def disk_folder():
    folder = block_device_folder()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def test_written_bytes_cover_fio_writes(store, disk_folder):
    # O_DIRECT, so fio's writes reach the device before fio reports them.
    run = metricset("iostat-fio", {
        "storage": {"volume": {"hostPath": str(disk_folder)}},
        "metrics": [
            {"name": "io-stat", "rate": 1},
            {"name": "io-fio", "options": {"rw": "write", "blockSize": "1M", "size": "64M", "direct": True,
                                           "ioengine": "psync", "iodepth": 1}},
        ],
    })
    result = await run_metricset(store, run)
    assert result.run.status == "Succeeded", result.run.message

    fio_written = store.samples(result.run.uid, metric="io-fio", field="write_bytes").column("value").to_pylist()
    device_written = store.samples(result.run.uid, metric="io-stat", field="written_bytes").column("value").to_pylist()
    assert fio_written == [64 * MIB]
    assert device_written, "io-stat stored no written_bytes: no block device found"
    assert max(device_written) >= fio_written[0], f"device wrote {max(device_written)}, fio {fio_written[0]}"
    results = store.results(result.run.uid, metric="io-stat")
    assert results[0]["data"]["blockDevice"], results


async def test_tmpfs_stores_filesystem_fields_only(store, tmp_path):
    shm = Path("/dev/shm")
    assert filesystem_type(shm) == "tmpfs", "/dev/shm is not tmpfs here"
    folder = shm / f"metrics-operator-{tmp_path.name}"
    folder.mkdir()
    try:
        run = metricset("iostat-tmpfs", {
            "storage": {"volume": {"hostPath": str(folder)}},
            "metrics": [{"name": "io-stat", "rate": 1, "completions": 2}],
        })
        result = await run_metricset(store, run)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.run.status == "Succeeded", result.run.message
    fields = {row["field"] for row in store.summary(result.run.uid)}
    assert fields == {"capacity_bytes", "used_bytes", "free_bytes", "inodes_used", "inodes_free"}
    assert store.results(result.run.uid, metric="io-stat")[0]["data"]["blockDevice"] is None


def test_alone_without_end_rejected(store, tmp_path):
    run = metricset("iostat-alone", {
        "storage": {"volume": {"hostPath": str(tmp_path)}},
        "metrics": [{"name": "io-stat", "rate": 1}],
    })
    with pytest.raises(LocalRunError, match="set its completions, or set spec.deadlineSeconds"):
        LocalRunner(metricset=run, destination=StoreDestination(store, "unused"), recorder=StoreRecorder(store))


def test_mountinfo_escapes_and_optional_fields():
    line = r"36 35 8:1 / /mnt/my\040disk rw,noatime shared:1 master:2 - ext4 /dev/sda1 rw"
    [mount] = parse_mountinfo(line)
    assert (mount.major, mount.minor) == (8, 1)
    assert mount.mount_point == "/mnt/my disk"
    assert mount.filesystem == "ext4"
    assert mount.source == "/dev/sda1"


def test_diskstats_reads_counters():
    line = " 254       0 vda 133386 13897 5503154 50931 28909 157655 18788000 44685 0 17084 97323 12115 77 5813240 1668"
    counters = parse_diskstats(line)[(254, 0)]
    assert counters.name == "vda"
    assert counters.reads == 133386
    assert counters.read_sectors == 5503154
    assert counters.writes == 28909
    assert counters.write_sectors == 18788000
    assert counters.io_ms == 17084
    assert counters.weighted_io_ms == 97323
