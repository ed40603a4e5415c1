"""Run sysstat's pidstat for one interval and parse its report.

pidstat prints a header line starting with ``#`` that names the columns, then one line
per process. Columns are found by name, not position, because sysstat releases add and
reorder columns. The locale is forced to C so numbers use a decimal point and the time
column is plain seconds since the epoch (``-h -H``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from metrics_operator.containers.common.collector import CollectorError
from metrics_operator.containers.common.process import run_tool

# pidstat reports: -u CPU, -r faults and memory, -d disk I/O, -w context switches.
REPORT_FLAGS = ("-u", "-r", "-d", "-w")
# Written in place of a value that pidstat could not read (/proc/PID/io without ptrace access).
UNAVAILABLE = -1.0


@dataclass(frozen=True)
class PidstatRow:
    """One process's line of a pidstat report: column name to value."""

    pid: int
    values: dict[str, float]


def pidstat_command(pids: list[int], interval: int) -> list[str]:
    """Build a pidstat command that reports ``pids`` once, over ``interval`` seconds."""
    return [
        "pidstat",
        "-h",
        "-H",
        *REPORT_FLAGS,
        "-p",
        ",".join(str(pid) for pid in pids),
        str(interval),
        "1",
    ]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_pidstat(output: str) -> list[PidstatRow]:
    """Parse the process lines of a ``pidstat -h`` report; lines that do not fit are skipped."""
    columns: list[str] | None = None
    rows: list[PidstatRow] = []
    for line in output.splitlines():
        if line.startswith("#"):
            columns = line[1:].split()
            continue
        parts = line.split()
        # The banner line and blank lines come before any header; Average lines have no epoch time.
        if columns is None or len(parts) < len(columns) or not parts[0].isdigit():
            continue
        # The last column (Command) is the only one that may contain spaces, so numbers
        # are read from the start of the line only.
        values: dict[str, float] = {}
        for name, text in zip(columns[:-1], parts):
            number = _number(text)
            if number is not None:
                values[name] = number
        if "PID" not in values:
            continue
        rows.append(PidstatRow(pid=int(values["PID"]), values=values))
    return rows


async def run_pidstat(pids: list[int], interval: int) -> list[PidstatRow]:
    """Run pidstat over ``interval`` seconds and return one row per process still alive at the end."""
    command = pidstat_command(pids, interval)
    environment = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    output = await run_tool(command, env=environment)
    if output.returncode != 0:
        raise CollectorError(f"pidstat failed with status {output.returncode}: {output.last_error_line()}")
    return parse_pidstat(output.stdout.decode(errors="replace"))
