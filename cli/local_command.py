"""``metrics-operator local``: run MetricSets from a YAML file on this machine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import duckdb

from rich.live import Live
from rich.table import Table

from metrics_operator.api.loader import MetricSetInvalid, load_metricsets
from metrics_operator.api.metricset import MetricSet
from metrics_operator.cli.render import console, format_number, print_error, print_warning, summary_table
from metrics_operator.containers.common.push import (
    PushDestination,
    PushFailed,
    SinkClient,
    SinkRecorder,
    SinkUnavailable,
    check_sink_url,
)
from metrics_operator.containers.common.writer import SampleWriter
from metrics_operator.local.runner import LocalRunError, LocalRunner, LocalRunResult, StoreRecorder
from metrics_operator.sink.auth import TokenFileError, read_token
from metrics_operator.sink.store import Store, StoreDestination

log = logging.getLogger(__name__)

# Seconds one /readyz probe of the sink may take before local mode starts a run.
SINK_PROBE_TIMEOUT_SECONDS = 3.0

# Values shown live for each metric, when it reports them.
PROGRESS_FIELDS = ("cpu_percent", "rss_bytes", "duration_seconds", "write_bandwidth_bytes_per_second")


def add_arguments(parser: argparse.ArgumentParser):
    parser.add_argument("file", type=Path, help="YAML file with one or more MetricSets")
    parser.add_argument("--db", type=Path, default=Path("metrics.duckdb"), help="DuckDB file for results (default: %(default)s)")
    parser.add_argument(
        "--process-timeout",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds collectors wait for the application's process to appear (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no live progress display")
    parser.add_argument(
        "--sink", metavar="URL", help="push results to the sink service at URL (http://HOST:PORT) instead of --db"
    )
    parser.add_argument("--sink-token-file", type=Path, metavar="FILE", help="file holding the sink's bearer token")
    return run


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: use a number of seconds above 0, such as 60")
    return value


class Interrupted(Exception):
    """The run was stopped by a signal; ``exit_code`` follows the shell's 128 + signal number."""

    def __init__(self, signal_number: int):
        self.signal_name = signal.Signals(signal_number).name
        self.exit_code = 128 + signal_number
        super().__init__(f"interrupted by {self.signal_name}")


def run_interruptible(make_runner_call: Callable[[Callable[[LocalRunner], None]], Awaitable]):
    """Run a coroutine until done, turning SIGINT and SIGTERM into a recorded, Failed run.

    The coroutine receives a hook to call with its runner, so a signal can name itself in
    the run's message before the run is cancelled.
    """

    async def main():
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        runners: list[LocalRunner] = []
        received: list[int] = []

        def on_signal(number: int) -> None:
            received.append(number)
            for runner in runners:
                runner.interrupted_by = signal.Signals(number).name
            task.cancel()

        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, on_signal, number)
        try:
            return await make_runner_call(runners.append)
        except asyncio.CancelledError:
            if received:
                raise Interrupted(received[0]) from None
            raise
        finally:
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(number)

    return asyncio.run(main())


def run(arguments: argparse.Namespace) -> int:
    try:
        metricsets = load_metricsets(arguments.file)
    except MetricSetInvalid as error:
        print_error(str(error))
        return 2
    if arguments.sink:
        return _run_with_sink(metricsets, arguments)

    try:
        store = Store(arguments.db)
    except (duckdb.Error, OSError) as error:
        print_error(f"cannot open database {arguments.db}: {error}")
        if "lock" in str(error).lower():
            print_error("another process is using it: wait for that run to finish, or pass another --db")
        return 2

    failed = 0
    program = sys.argv[0] if sys.argv and sys.argv[0].endswith("metrics-operator") else "metrics-operator"
    with store:
        for metricset in metricsets:
            try:
                result = run_interruptible(lambda register: _run_one(metricset, store, arguments, register))
            except LocalRunError as error:
                print_error(f"{metricset.key}: {error}")
                failed += 1
                continue
            except Interrupted as interrupted:
                print_error(f"{metricset.key}: {interrupted}; the run is recorded as Failed with what was measured")
                return interrupted.exit_code
            stored_in = f"Stored in {arguments.db}; see it again with: {program} results --db {arguments.db} {{uid}}"
            _print_outcome(store.summary(result.run.uid), metricset, result, stored_in)
            failed += 0 if result.succeeded else 1
    return 1 if failed else 0


def _run_with_sink(metricsets: list[MetricSet], arguments: argparse.Namespace) -> int:
    try:
        check_sink_url(arguments.sink)
    except ValueError as error:
        print_error(f"--sink: {error}")
        return 2
    token = None
    if arguments.sink_token_file is not None:
        try:
            token = read_token(arguments.sink_token_file)
        except TokenFileError as error:
            print_error(str(error))
            return 2
    problem = asyncio.run(_probe_sink(arguments.sink))
    if problem is not None:
        print_error(f"sink {arguments.sink} is not reachable ({problem}): start it with 'metrics-operator sink', or fix --sink")
        return 2

    failed = 0
    for metricset in metricsets:
        try:
            result, rows = run_interruptible(lambda register: _run_one_pushed(metricset, arguments, token, register))
        except LocalRunError as error:
            print_error(f"{metricset.key}: {error}")
            failed += 1
            continue
        except (SinkUnavailable, PushFailed) as error:
            print_error(f"{metricset.key}: sink {arguments.sink}: {error}")
            failed += 1
            continue
        except Interrupted as interrupted:
            print_error(f"{metricset.key}: {interrupted}; the run is reported to the sink as Failed")
            return interrupted.exit_code
        stored_in = f"Stored in the sink at {arguments.sink}; see it again with GET /v1/runs/{{uid}}/summary"
        _print_outcome(rows, metricset, result, stored_in)
        failed += 0 if result.succeeded else 1
    return 1 if failed else 0


async def _probe_sink(url: str, attempts: int = 3) -> str | None:
    """Check that the sink returns 200 on /readyz before a run starts; return the problem, or None."""
    problem = None
    timeout = aiohttp.ClientTimeout(total=SINK_PROBE_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(1.0)
            try:
                async with session.get(url.rstrip("/") + "/readyz") as response:
                    if response.status == 200:
                        return None
                    problem = f"/readyz answered HTTP {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return problem


async def _run_one_pushed(
    metricset: MetricSet, arguments: argparse.Namespace, token: str | None, register: Callable[[LocalRunner], None]
) -> tuple[LocalRunResult, list[dict]]:
    run_uid = str(uuid.uuid4())
    async with SinkClient(arguments.sink, token) as client:
        destination = PushDestination(client, run_uid)
        runner = LocalRunner(
            metricset=metricset,
            destination=destination,
            recorder=SinkRecorder(client),
            process_timeout=arguments.process_timeout,
            run_uid=run_uid,
        )
        register(runner)
        try:
            result = await _run_with_progress(runner, metricset, arguments)
        finally:
            await destination.close()
        return result, await client.get_summary(run_uid)


async def _run_one(
    metricset: MetricSet, store: Store, arguments: argparse.Namespace, register: Callable[[LocalRunner], None]
) -> LocalRunResult:
    run_uid = str(uuid.uuid4())
    runner = LocalRunner(
        metricset=metricset,
        destination=StoreDestination(store, run_uid),
        recorder=StoreRecorder(store),
        process_timeout=arguments.process_timeout,
        run_uid=run_uid,
    )
    register(runner)
    return await _run_with_progress(runner, metricset, arguments)


async def _run_with_progress(runner: LocalRunner, metricset: MetricSet, arguments: argparse.Namespace) -> LocalRunResult:
    if arguments.quiet or not console.is_terminal:
        return await runner.run()
    with Live(console=console, refresh_per_second=4, transient=True) as live:
        runner.on_progress = lambda writer, elapsed: live.update(_progress_table(metricset, writer, elapsed))
        return await runner.run()


def _progress_table(metricset: MetricSet, writer: SampleWriter, elapsed: float) -> Table:
    table = Table(title=f"{metricset.key}: running for {elapsed:.0f} s", title_justify="left")
    table.add_column("metric")
    table.add_column("samples", justify="right")
    table.add_column("latest")
    for metric in metricset.spec.metrics:
        latest = writer.latest.get(metric.name, {})
        shown = ", ".join(f"{name}={format_number(latest[name])}" for name in PROGRESS_FIELDS if name in latest)
        table.add_row(metric.name, str(writer.counts.get(metric.name, 0)), shown)
    return table


def _print_outcome(rows: list[dict], metricset: MetricSet, result: LocalRunResult, stored_in: str) -> None:
    run = result.run
    if rows:
        console.print(summary_table(rows, f"{metricset.key} run {run.uid}: {run.status}"))
    else:
        console.print(f"{metricset.key} run {run.uid}: {run.status}, no samples stored", markup=False)
    measured = {row["metric"] for row in rows}
    for metric in metricset.spec.metrics:
        if metric.name not in measured:
            print_warning(
                f"{metric.name} stored no samples: the measured target ended before the first sample "
                f"(rate {metric.rate:g} s); lower spec.metrics[].rate to sample it"
            )
    if result.succeeded:
        console.print(stored_in.format(uid=run.uid), highlight=False, markup=False)
    else:
        print_error(f"{metricset.key} failed: {run.message}")
