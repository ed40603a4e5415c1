"""perf-proc: CPU, memory, context switches, page faults and I/O of the application's process tree."""

from __future__ import annotations

from pydantic import Field

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, FieldSpec, MetricDefinition
from metrics_operator.containers.common import procfs
from metrics_operator.containers.common.collector import PeriodicCollector
from metrics_operator.containers.common.procfs import ProcessStat


class PerfProcOptions(ApiModel):
    """Options of perf-proc."""

    include_children: bool = Field(
        True, description="Measure the whole process tree; false measures the application's first process only."
    )


# Counters reported as rates per second over each interval: (stat attribute, field name).
RATE_COUNTERS = [
    ("voluntary_ctx_switches", "voluntary_ctx_switches_per_second"),
    ("involuntary_ctx_switches", "involuntary_ctx_switches_per_second"),
    ("minor_faults", "minor_faults_per_second"),
    ("major_faults", "major_faults_per_second"),
    ("read_bytes", "read_bytes_per_second"),
    ("write_bytes", "write_bytes_per_second"),
]


class PerfProcCollector(PeriodicCollector):
    """Reads /proc for every process in the tree and reports interval deltas as rates."""

    async def start(self) -> None:
        self._previous = self._read_tree()

    def _read_tree(self) -> dict[tuple[int, int], ProcessStat]:
        application = self.context.application
        pids = application.tree() if self.options.include_children else [application.root_pid]
        stats = {}
        for pid in pids:
            stat = procfs.read_stat(pid)
            if stat is not None:
                # Key by (pid, start) so a recycled pid is not taken for the old process.
                stats[(stat.pid, stat.start_ticks)] = stat
        return stats

    def sample(self, elapsed: float) -> dict[str, float] | None:
        current = self._read_tree()
        previous = self._previous
        self._previous = current
        if not current or elapsed <= 0:
            return None

        user_ticks = system_ticks = 0
        deltas = {field: 0 for _, field in RATE_COUNTERS}
        for key, stat in current.items():
            # A process born during the interval counts from zero.
            before = previous.get(key)
            user_ticks += stat.user_ticks - (before.user_ticks if before else 0)
            system_ticks += stat.system_ticks - (before.system_ticks if before else 0)
            for attribute, field in RATE_COUNTERS:
                now_value = getattr(stat, attribute)
                if now_value is None:
                    continue
                before_value = getattr(before, attribute) if before else 0
                deltas[field] += max(0, now_value - (before_value or 0))

        user_percent = 100.0 * user_ticks / procfs.CLOCK_TICKS / elapsed
        system_percent = 100.0 * system_ticks / procfs.CLOCK_TICKS / elapsed
        values = {
            "cpu_percent": user_percent + system_percent,
            "cpu_user_percent": user_percent,
            "cpu_system_percent": system_percent,
            "rss_bytes": float(sum(stat.rss_bytes for stat in current.values())),
            "vms_bytes": float(sum(stat.vms_bytes for stat in current.values())),
            "processes": float(len(current)),
            "threads": float(sum(stat.threads for stat in current.values())),
        }
        values.update({field: delta / elapsed for field, delta in deltas.items()})
        return values


METRIC = MetricDefinition(
    name="perf-proc",
    family=Family.PERF,
    summary="CPU, memory, threads, context switches, page faults and disk I/O of the application's "
    "process tree, read from /proc every rate seconds.",
    options=PerfProcOptions,
    image="metrics-operator/perf",
    collector=PerfProcCollector,
    # /proc/PID/io of a process in another container is readable only with ptrace access.
    needs_ptrace=True,
    fields={
        "cpu_percent": FieldSpec("%", "CPU time (user + system) over the interval; 100 is one full core"),
        "cpu_user_percent": FieldSpec("%", "user CPU time over the interval"),
        "cpu_system_percent": FieldSpec("%", "system CPU time over the interval"),
        "rss_bytes": FieldSpec("bytes", "resident memory, summed over the tree (shared pages count once per process)"),
        "vms_bytes": FieldSpec("bytes", "virtual memory size, summed over the tree"),
        "processes": FieldSpec("count", "processes in the tree"),
        "threads": FieldSpec("count", "threads in the tree"),
        "voluntary_ctx_switches_per_second": FieldSpec("1/s", "voluntary context switches"),
        "involuntary_ctx_switches_per_second": FieldSpec("1/s", "involuntary context switches"),
        "minor_faults_per_second": FieldSpec("1/s", "minor page faults"),
        "major_faults_per_second": FieldSpec("1/s", "major page faults (disk reads)"),
        "read_bytes_per_second": FieldSpec("bytes/s", "bytes the tree caused to be read from storage"),
        "write_bytes_per_second": FieldSpec("bytes/s", "bytes the tree caused to be written to storage"),
    },
)
