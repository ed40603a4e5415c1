"""perf-sysstat: CPU, memory, disk I/O and context switches of the application's process tree, by pidstat.

pidstat takes a fixed list of pids, but the application's tree changes as it forks and
reaps. So each interval runs one ``pidstat -p PIDS RATE 1`` with the tree as it is at
the start of that interval, and the next interval picks up the processes born since.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, FieldSpec, MetricDefinition, Tool
from metrics_operator.containers.common.collector import Collector, CollectorError
from metrics_operator.containers.common.pidstat import UNAVAILABLE, PidstatRow, run_pidstat

KIB = 1024.0

# pidstat column, the field it is stored as, and the factor to the field's unit.
COLUMNS = [
    ("%CPU", "cpu_percent", 1.0),
    ("%usr", "cpu_user_percent", 1.0),
    ("%system", "cpu_system_percent", 1.0),
    ("%guest", "cpu_guest_percent", 1.0),
    ("%wait", "cpu_wait_percent", 1.0),
    ("minflt/s", "minor_faults_per_second", 1.0),
    ("majflt/s", "major_faults_per_second", 1.0),
    ("VSZ", "vsz_bytes", KIB),
    ("RSS", "rss_bytes", KIB),
    ("%MEM", "memory_percent", 1.0),
    ("kB_rd/s", "read_bytes_per_second", KIB),
    ("kB_wr/s", "write_bytes_per_second", KIB),
    ("kB_ccwr/s", "cancelled_write_bytes_per_second", KIB),
    ("iodelay", "io_delay_ticks", 1.0),
    ("cswch/s", "voluntary_ctx_switches_per_second", 1.0),
    ("nvcswch/s", "involuntary_ctx_switches_per_second", 1.0),
]


class PerfSysstatOptions(ApiModel):
    """Options of perf-sysstat."""

    include_children: bool = Field(
        True, description="Measure the whole process tree; false measures the application's first process only."
    )


def sum_rows(rows: list[PidstatRow]) -> dict[str, float]:
    """Add up each column over the processes; a column no process could report is left out."""
    values: dict[str, float] = {}
    for column, field, factor in COLUMNS:
        readable = [row.values[column] for row in rows if row.values.get(column, UNAVAILABLE) != UNAVAILABLE]
        if readable:
            values[field] = sum(readable) * factor
    values["processes"] = float(len(rows))
    return values


class PerfSysstatCollector(Collector):
    """Runs pidstat once per interval on the application's current process tree."""

    async def collect(self) -> None:
        application = self.context.application
        if application is None:
            raise CollectorError("metric 'perf-sysstat' needs an application to measure")
        await application.wait_for_start(self.context.process_timeout)

        # The rate was validated as a whole number of seconds, because pidstat takes no fractions.
        interval = int(self.metric.rate)
        completions = self.metric.completions
        samples_taken = 0
        while completions == 0 or samples_taken < completions:
            pids = await asyncio.to_thread(self._pids)
            if not pids:
                break
            rows = await self._report_unless_exited(pids, interval)
            if rows is None:
                break
            # NOTE: a process born during the interval is missed until the next interval, and one
            # that exits before the interval ends is missing from that interval's sums.
            if rows:
                self.writer.add_sample(self.name, sum_rows(rows))
                samples_taken += 1
                await self.writer.maybe_flush()
        self.log.info("%s stops after %d samples", self.name, samples_taken)

    def _pids(self) -> list[int]:
        application = self.context.application
        if self.options.include_children:
            return application.tree()
        return [] if application.exited() else [application.root_pid]

    async def _report_unless_exited(self, pids: list[int], interval: int) -> list[PidstatRow] | None:
        """Run one pidstat interval; return None if the application exits before it ends."""
        report = asyncio.create_task(run_pidstat(pids, interval))
        exit_watch = asyncio.create_task(self.context.application.wait_for_exit())
        try:
            done, _ = await asyncio.wait({report, exit_watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (report, exit_watch):
                if not task.done():
                    task.cancel()
            await asyncio.gather(report, exit_watch, return_exceptions=True)
        if report not in done:
            self.log.info("application ended; the last, partial pidstat interval is dropped")
            return None
        return report.result()


METRIC = MetricDefinition(
    name="perf-sysstat",
    family=Family.PERF,
    summary="CPU, memory, page faults, disk I/O and context switches of the application's process tree "
    "as sysstat's pidstat reports them, summed over the tree every rate seconds; for users who trust "
    "sysstat's numbers or want to check perf-proc against them. pidstat runs once per interval on the "
    "tree as it is when the interval starts, so a process born during an interval counts from the next one.",
    options=PerfSysstatOptions,
    image="metrics-operator/perf",
    collector=PerfSysstatCollector,
    # pidstat reads /proc/PID/io, which needs ptrace access to processes of other containers.
    needs_ptrace=True,
    tools=(Tool(command="pidstat", package="sysstat"),),
    whole_second_rate=True,
    fields={
        "cpu_percent": FieldSpec("%", "CPU time (pidstat %CPU) over the interval; 100 is one full core"),
        "cpu_user_percent": FieldSpec("%", "user CPU time (%usr), without guest time"),
        "cpu_system_percent": FieldSpec("%", "system CPU time (%system)"),
        "cpu_guest_percent": FieldSpec("%", "CPU time running a virtual CPU (%guest)"),
        "cpu_wait_percent": FieldSpec("%", "time runnable but waiting for a CPU (%wait)"),
        "minor_faults_per_second": FieldSpec("1/s", "minor page faults (minflt/s)"),
        "major_faults_per_second": FieldSpec("1/s", "major page faults, which read from disk (majflt/s)"),
        "vsz_bytes": FieldSpec("bytes", "virtual memory size (VSZ), summed over the tree"),
        "rss_bytes": FieldSpec("bytes", "resident memory (RSS), summed over the tree"),
        "memory_percent": FieldSpec("%", "resident memory as a share of the machine's memory (%MEM)"),
        "read_bytes_per_second": FieldSpec("bytes/s", "bytes the tree caused to be read from storage (kB_rd/s)"),
        "write_bytes_per_second": FieldSpec("bytes/s", "bytes the tree caused to be written to storage (kB_wr/s)"),
        "cancelled_write_bytes_per_second": FieldSpec(
            "bytes/s", "written bytes that were truncated away before reaching storage (kB_ccwr/s)"
        ),
        "io_delay_ticks": FieldSpec("ticks", "clock ticks spent waiting for block I/O (iodelay)"),
        "voluntary_ctx_switches_per_second": FieldSpec("1/s", "voluntary context switches (cswch/s)"),
        "involuntary_ctx_switches_per_second": FieldSpec("1/s", "involuntary context switches (nvcswch/s)"),
        "processes": FieldSpec("count", "processes pidstat reported in the interval"),
    },
)
