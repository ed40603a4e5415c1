"""Find the block device behind a folder and read its counters, the way iostat does.

The device is found from the folder's mount in /proc/self/mountinfo: the st_dev of the
folder is the mount's major:minor, which /proc/diskstats lists for a disk or partition
(ext4, xfs). Filesystems that report an anonymous device (btrfs, and overlay or tmpfs,
which have no device at all) are matched by the mount source instead, when it is a /dev
path. /proc/diskstats is not namespaced, so this works from inside a container too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
DISKSTATS = Path("/proc/diskstats")
# /proc/diskstats counts sectors of 512 bytes whatever the device's own sector size.
SECTOR_BYTES = 512


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo."""

    major: int
    minor: int
    mount_point: str
    filesystem: str
    source: str


@dataclass(frozen=True)
class DiskCounters:
    """The cumulative counters of one block device from /proc/diskstats (times in ms)."""

    name: str
    reads: int
    read_sectors: int
    read_ms: int
    writes: int
    write_sectors: int
    write_ms: int
    in_flight: int
    io_ms: int
    weighted_io_ms: int


def _unescape(text: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(escaped, plain)
    return text


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse /proc/self/mountinfo; see proc(5) for the layout."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts:
            continue
        separator = parts.index("-")
        major, minor = parts[2].split(":")
        mounts.append(
            Mount(
                major=int(major),
                minor=int(minor),
                mount_point=_unescape(parts[4]),
                filesystem=parts[separator + 1],
                source=_unescape(parts[separator + 2]),
            )
        )
    return mounts


def parse_diskstats(text: str) -> dict[tuple[int, int], DiskCounters]:
    """Parse /proc/diskstats into counters by (major, minor); see the kernel's iostats.rst."""
    devices = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 14:
            continue
        numbers = [int(value) for value in parts[3:14]]
        devices[(int(parts[0]), int(parts[1]))] = DiskCounters(
            name=parts[2],
            reads=numbers[0],
            read_sectors=numbers[2],
            read_ms=numbers[3],
            writes=numbers[4],
            write_sectors=numbers[6],
            write_ms=numbers[7],
            in_flight=numbers[8],
            io_ms=numbers[9],
            weighted_io_ms=numbers[10],
        )
    return devices


def read_diskstats() -> dict[tuple[int, int], DiskCounters]:
    return parse_diskstats(DISKSTATS.read_text())


def find_mount(path: Path) -> Mount:
    """Return the mount that contains ``path``: the deepest mount point above it with its st_dev."""
    device = os.stat(path).st_dev
    resolved = os.path.realpath(path)
    candidates = [
        mount
        for mount in parse_mountinfo(MOUNTINFO.read_text())
        if (mount.major, mount.minor) == (os.major(device), os.minor(device))
        and (resolved == mount.mount_point or resolved.startswith(mount.mount_point.rstrip("/") + "/"))
    ]
    if not candidates:
        raise FileNotFoundError(f"mount of {path} not found in {MOUNTINFO}")
    return max(candidates, key=lambda mount: len(mount.mount_point))


def find_block_device(mount: Mount, diskstats: dict[tuple[int, int], DiskCounters]) -> tuple[int, int] | None:
    """Return the (major, minor) in /proc/diskstats behind ``mount``, or None when it has no block device."""
    if (mount.major, mount.minor) in diskstats:
        return mount.major, mount.minor
    if mount.source.startswith("/dev/"):
        name = os.path.basename(os.path.realpath(mount.source))
        for key, counters in diskstats.items():
            if counters.name == name:
                return key
    return None
