"""Shared output and measurement helpers for the benchmarks.

Every benchmark prints its figures, then one ``RATIO name=value`` line per ratio.
Ratios compare two figures taken in the same run on the same machine, because the
machines these run on are shared and noisy, so absolute times mean little.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def parse_mode(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for CI smoke runs")
    return parser.parse_args()


def figure(name: str, value: float, unit: str) -> None:
    print(f"FIGURE {name}={value:.6g} {unit}", flush=True)


def ratio(name: str, value: float) -> None:
    print(f"RATIO {name}={value:.4g}", flush=True)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


@dataclass(frozen=True)
class ChildUsage:
    """CPU seconds a finished child process used (user + system), and its peak RSS."""

    cpu_seconds: float
    max_rss_bytes: int
    returncode: int


def wait_with_usage(process: subprocess.Popen) -> ChildUsage:
    """Reap ``process`` with wait4, so its own resource usage is exact."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return ChildUsage(
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_bytes=usage.ru_maxrss * 1024,
        returncode=process.returncode,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def python() -> str:
    return sys.executable
