"""Collector overhead: CPU seconds perf-proc spends sampling a process tree, against pidstat.

Both sample the same idle tree (1 and 50 processes) once a second for the same time.
pidstat's CPU time comes from wait4 on its process. perf-proc runs in a child Python
process through the real collector code (process discovery by command line, /proc
reads, the sampling loop), with samples discarded; its CPU time is reported twice:
the whole process, and the sampling loop alone (without interpreter start-up and
imports, which a long-running collector pays once).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import figure, parse_mode, python, ratio, wait_with_usage  # noqa: E402


def start_tree(size: int, seconds: float) -> tuple[subprocess.Popen, str]:
    """Start a tree of ``size`` sleeping processes; return its root and the root's command line."""
    marker = f"overhead-{uuid.uuid4().hex[:8]}"
    if size == 1:
        arguments = [python(), "-c", f"import time; time.sleep({seconds + 30})", marker]
    else:
        # The shell, size - 2 background sleeps, and one foreground sleep.
        script = f"for i in $(seq {size - 2}); do sleep {seconds + 30} & done; sleep {seconds + 30}"
        arguments = ["sh", "-c", script, marker]
    return subprocess.Popen(arguments), shlex.join(arguments)


def tree_pids(root_pid: int) -> list[int]:
    from metrics_operator.containers.common.procfs import process_tree

    return process_tree(root_pid)


def run_pidstat(pids: list[int], seconds: int) -> float:
    process = subprocess.Popen(
        ["pidstat", "-h", "-u", "-r", "-d", "-w", "-p", ",".join(map(str, pids)), "1", str(seconds)],
        stdout=subprocess.DEVNULL,
        env={"LC_ALL": "C"},
    )
    usage = wait_with_usage(process)
    if usage.returncode != 0:
        raise RuntimeError(f"pidstat exited with status {usage.returncode}")
    return usage.cpu_seconds


def run_perf_proc(command: str, seconds: int) -> tuple[float, float]:
    process = subprocess.Popen(
        [python(), __file__, "--driver", command, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    output = process.stdout.read()
    usage = wait_with_usage(process)
    if usage.returncode != 0:
        raise RuntimeError(f"perf-proc driver exited with status {usage.returncode}")
    loop_seconds = json.loads(output)["loop_cpu_seconds"]
    return usage.cpu_seconds, loop_seconds


async def drive_perf_proc(command: str, seconds: int) -> float:
    """Run the real perf-proc collector on the tree for ``seconds`` samples; return the loop's CPU time."""
    from metrics_operator.api import parse_metricset
    from metrics_operator.containers.common.application import Application
    from metrics_operator.containers.common.collector import CollectorContext, RunIdentity
    from metrics_operator.containers.catalog.perf_proc import PerfProcCollector
    from metrics_operator.containers.common.writer import SampleWriter

    class Discard:
        async def write(self, samples, results) -> None:
            return None

    metricset = parse_metricset({
        "kind": "MetricSet", "metadata": {"name": "overhead"},
        "spec": {"application": {"image": "none", "command": command}, "metrics": [{"name": "perf-proc", "rate": 1, "completions": seconds}]},
    })
    context = CollectorContext(
        run=RunIdentity(uid="bench", namespace="default", name="overhead", pod="bench-0"),
        metric=metricset.spec.metrics[0],
        writer=SampleWriter(Discard(), "bench-0"),
        application=Application(command),
    )
    started = time.process_time()
    await PerfProcCollector(context).collect()
    return time.process_time() - started


def measure(size: int, seconds: int) -> None:
    root, command = start_tree(size, seconds)
    try:
        time.sleep(1.0)
        pids = tree_pids(root.pid)
        if len(pids) != size:
            raise RuntimeError(f"expected a tree of {size} processes, found {len(pids)}")
        # One after the other, so neither steals CPU time from the other's samples.
        pidstat_cpu = run_pidstat(pids, seconds)
        perf_total, perf_loop = run_perf_proc(command, seconds)
    finally:
        subprocess.run(["pkill", "-P", str(root.pid)], check=False)
        root.kill()
        root.wait()

    figure(f"pidstat_cpu_seconds_tree{size}", pidstat_cpu, "s")
    figure(f"perf_proc_cpu_seconds_tree{size}", perf_total, "s")
    figure(f"perf_proc_loop_cpu_seconds_tree{size}", perf_loop, "s")
    ratio(f"collector_loop_over_pidstat_tree{size}", perf_loop / pidstat_cpu)
    ratio(f"collector_process_over_pidstat_tree{size}", perf_total / pidstat_cpu)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--driver":
        loop_seconds = asyncio.run(drive_perf_proc(sys.argv[2], int(sys.argv[3])))
        print(json.dumps({"loop_cpu_seconds": loop_seconds}))
        return
    arguments = parse_mode(__doc__.splitlines()[0])
    seconds = 10 if arguments.quick else 60
    print(f"collector overhead: sampling at 1 s for {seconds} s")
    for size in (1, 50):
        measure(size, seconds)


if __name__ == "__main__":
    main()
