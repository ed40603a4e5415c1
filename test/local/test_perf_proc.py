"""perf-proc on real processes: known CPU and memory, and agreement with sysstat's pidstat."""

from __future__ import annotations

import asyncio
import os
import statistics

from localrun import run_local, summary_by_field, unique_marker

from metrics_operator.api import parse_metricset
from metrics_operator.containers.common.application import Application
from metrics_operator.containers.common.procfs import read_cmdline
from metrics_operator.local.runner import LocalRunner, StoreRecorder
from metrics_operator.sink.store import StoreDestination

MIB = 1024 * 1024


def python_command(code: str) -> str:
    return f'python3 -c "{code}" {unique_marker()}'


async def test_single_busy_thread_near_one_core(store, tmp_path):
    # One thread spinning for 6 s reads as one full core on an idle machine. The thread also
    # reports its own CPU share (CPU time over wall time), the ground truth on a busy machine
    # where it gets less than a core, and perf-proc must match that within 10%.
    report = tmp_path / "cpu-share"
    command = python_command(
        "import time; start = time.time(); end = start + 6; any(iter(lambda: time.time() > end, True)); "
        f"open('{report}', 'w').write(str(100 * time.process_time() / (time.time() - start)))"
    )
    result = await run_local(store, "busy", {
        "application": {"image": "python", "command": command},
        "metrics": [{"name": "perf-proc", "rate": 1}],
    })
    assert result.run.status == "Succeeded", result.run.message
    cpu = store.samples(result.run.uid, metric="perf-proc", field="cpu_percent").column("value").to_pylist()
    # The first and last intervals may straddle start-up and exit, so judge the middle ones.
    steady = cpu[1:-1]
    assert len(steady) >= 3, cpu
    measured = statistics.mean(steady)
    truth = float(report.read_text())
    assert abs(measured - truth) <= 0.10 * truth, f"perf-proc {measured:.1f}% vs the thread's own {truth:.1f}%"
    assert measured <= 110, cpu


async def test_known_allocation_shows_in_rss(store):
    allocated = 300 * MIB
    command = python_command("import time; block = b'x' * (300 << 20); time.sleep(4)")
    result = await run_local(store, "memory", {
        "application": {"image": "python", "command": command},
        "metrics": [{"name": "perf-proc", "rate": 0.5}],
    })
    assert result.run.status == "Succeeded", result.run.message
    peak = summary_by_field(store, result.run.uid)[("perf-proc", "rss_bytes")]["max"]
    assert abs(peak - allocated) <= 0.10 * allocated, f"peak RSS {peak / MIB:.1f} MiB, allocated 300 MiB"


async def _pidstat(pid: int, seconds: int) -> tuple[list[float], list[float]]:
    """Run the real pidstat on one pid; return its %CPU and RSS (bytes) per interval."""
    process = await asyncio.create_subprocess_exec(
        "pidstat", "-h", "-u", "-r", "-p", str(pid), "1", str(seconds),
        stdout=asyncio.subprocess.PIPE, env={"LC_ALL": "C", "S_TIME_FORMAT": "ISO"},
    )
    output, _ = await process.communicate()
    cpu, rss = [], []
    header: list[str] = []
    for line in output.decode().splitlines():
        if line.startswith("#"):
            header = line.lstrip("# ").split()
            continue
        fields = line.split()
        if header and len(fields) == len(header) and fields[header.index("PID")] == str(pid):
            cpu.append(float(fields[header.index("%CPU")]))
            rss.append(float(fields[header.index("RSS")]) * 1024)
    return cpu, rss


async def test_perf_proc_agrees_with_pidstat(store):
    # A steady single process: 150 MiB resident and one spinning thread for 9 s.
    command = python_command(
        "import time; block = b'x' * (150 << 20); end = time.time() + 9; any(iter(lambda: time.time() > end, True))"
    )
    metricset = parse_metricset({
        "apiVersion": "metrics-operator.io/v1alpha1", "kind": "MetricSet", "metadata": {"name": "peer"},
        "spec": {"application": {"image": "python", "command": command}, "metrics": [{"name": "perf-proc", "rate": 1, "completions": 6}]},
    })
    run_uid = "peer-run"
    runner = LocalRunner(metricset, StoreDestination(store, run_uid), StoreRecorder(store), process_timeout=20, run_uid=run_uid)
    run_task = asyncio.create_task(runner.run())

    application = Application(command)
    await application.wait_for_start(20)
    # The root may be the shell that runs the command; pidstat watches the python process itself.
    pid = next(pid for pid in application.tree() if os.path.basename(read_cmdline(pid)[0]) == "python3")
    # Let the allocation finish so both tools see the same steady state.
    await asyncio.sleep(1.5)
    pidstat_cpu, pidstat_rss = await _pidstat(pid, 5)
    result = await run_task
    assert result.run.status == "Succeeded", result.run.message

    summary = summary_by_field(store, run_uid)
    perf_cpu = summary[("perf-proc", "cpu_percent")]["p50"]
    perf_rss = summary[("perf-proc", "rss_bytes")]["max"]
    assert len(pidstat_cpu) >= 4, pidstat_cpu
    peer_cpu = statistics.median(pidstat_cpu)
    peer_rss = max(pidstat_rss)
    assert abs(perf_cpu - peer_cpu) <= 0.10 * peer_cpu, f"perf-proc {perf_cpu:.1f}% vs pidstat {peer_cpu:.1f}%"
    assert abs(perf_rss - peer_rss) <= 0.10 * peer_rss, f"perf-proc {perf_rss / MIB:.1f} MiB vs pidstat {peer_rss / MIB:.1f} MiB"


async def test_completions_stop_sampling(store):
    command = python_command("import time; time.sleep(5)")
    result = await run_local(store, "completions", {
        "application": {"image": "python", "command": command},
        "metrics": [{"name": "perf-proc", "rate": 0.5, "completions": 3}],
    })
    assert result.run.status == "Succeeded", result.run.message
    counts = summary_by_field(store, result.run.uid)
    assert counts[("perf-proc", "cpu_percent")]["count"] == 3
