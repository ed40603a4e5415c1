"""perf-sysstat runs the real pidstat on a real process tree and agrees with perf-proc."""

from __future__ import annotations

import statistics

from catalog_runs import metricset, run_metricset, unique_marker

from metrics_operator.containers.common.pidstat import parse_pidstat
from metrics_operator.containers.catalog.perf_sysstat import sum_rows

# sysstat 12.6 output of ``pidstat -h -H -u -r -d -w``, with a command name containing a space
# and -1.00 where /proc/PID/io was not readable.
PIDSTAT_OUTPUT = """\
Linux 6.1.0 (node) \t12/04/26 \t_x86_64_\t(2 CPU)

# Time        UID       PID    %usr %system  %guest   %wait    %CPU   CPU  minflt/s  majflt/s     VSZ     RSS   %MEM   kB_rd/s   kB_wr/s kB_ccwr/s iodelay   cswch/s nvcswch/s  Command
1796414282      0     21776   40.00    2.00    0.00    1.00   42.00     1      3.00      0.00   77308    9988   0.04     -1.00     -1.00     -1.00       0      2.00      1.00  stress-ng
1796414282      0     21777   58.00    0.00    0.00    0.00   58.00     0      0.00      0.00   77308   10012   0.04      4.00      8.00      0.00       0      0.00      5.00  my worker
Average:        0     21776   40.00    2.00    0.00    1.00   42.00     -      3.00      0.00   77308    9988   0.04     -1.00     -1.00     -1.00       0      2.00      1.00  stress-ng
"""


def test_parser_reads_columns_by_name():
    rows = parse_pidstat(PIDSTAT_OUTPUT)
    assert [row.pid for row in rows] == [21776, 21777]
    assert rows[1].values["%CPU"] == 58.0
    assert rows[1].values["RSS"] == 10012.0


def test_sums_skip_unreadable_columns():
    values = sum_rows(parse_pidstat(PIDSTAT_OUTPUT))
    assert values["cpu_percent"] == 100.0
    assert values["rss_bytes"] == (9988 + 10012) * 1024.0
    # Only the second process could report I/O, so the first one's -1 must not subtract.
    assert values["read_bytes_per_second"] == 4 * 1024.0
    assert values["write_bytes_per_second"] == 8 * 1024.0
    assert values["involuntary_ctx_switches_per_second"] == 6.0
    assert values["processes"] == 2.0


def test_parser_ignores_empty_report():
    assert parse_pidstat("Linux 6.1.0 (node)\n\n# Time UID PID %CPU Command\n") == []


def _window_means(store, run_uid: str, field_by_metric: dict[str, str]) -> dict[str, float]:
    """Mean of each metric's field over the time window both metrics sampled, after the first sample."""
    series = {}
    for metric, field in field_by_metric.items():
        table = store.samples(run_uid, metric=metric, field=field)
        times = [timestamp.timestamp() for timestamp in table.column("ts").to_pylist()]
        series[metric] = list(zip(times, table.column("value").to_pylist()))[1:]
    start = max(points[0][0] for points in series.values())
    end = min(points[-1][0] for points in series.values())
    means = {}
    for metric, points in series.items():
        inside = [value for timestamp, value in points if start - 0.5 <= timestamp <= end + 0.5]
        assert len(inside) >= 3, f"{metric}: only {len(inside)} samples in the common window"
        means[metric] = statistics.mean(inside)
    return means


async def test_agrees_with_perf_proc(store):
    # A steady load: 60% of one core plus a worker that keeps 128 MiB resident. stress-ng rejects extra
    # arguments, so a shell carries the marker and both metrics measure it with its children.
    stress = "stress-ng --cpu 1 --cpu-load 60 --vm 1 --vm-bytes 128M --vm-keep --timeout 9s"
    command = f"sh -c '{stress}' {unique_marker()}"
    run = metricset("sysstat-vs-proc", {
        "application": {"image": "stress-ng", "command": command},
        "metrics": [{"name": "perf-sysstat", "rate": 1}, {"name": "perf-proc", "rate": 1}],
    })
    result = await run_metricset(store, run)
    assert result.run.status == "Succeeded", result.run.message

    for field in ("cpu_percent", "rss_bytes"):
        means = _window_means(store, result.run.uid, {"perf-sysstat": field, "perf-proc": field})
        sysstat, proc = means["perf-sysstat"], means["perf-proc"]
        assert proc > 0, f"perf-proc {field} mean is {proc}"
        assert abs(sysstat - proc) <= 0.10 * proc, f"{field}: perf-sysstat {sysstat:.1f} vs perf-proc {proc:.1f}"


async def test_follows_new_children(store):
    # The shell starts a second sleep after 2 s, so the tree grows while pidstat runs.
    command = f"sh -c 'sleep 6 & sleep 2; sleep 4 & wait' {unique_marker()}"
    run = metricset("sysstat-tree", {
        "application": {"image": "busybox", "command": command},
        "metrics": [{"name": "perf-sysstat", "rate": 1}],
    })
    result = await run_metricset(store, run)
    assert result.run.status == "Succeeded", result.run.message
    processes = store.samples(result.run.uid, metric="perf-sysstat", field="processes").column("value").to_pylist()
    assert processes, "no samples"
    assert max(processes) > min(processes), f"process count never changed: {processes}"
