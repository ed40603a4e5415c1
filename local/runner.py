"""Run one MetricSet locally: the application as a child process, the collectors beside it.

The collectors find the application by scanning /proc for its command, as they do in a
pod. The runner reports the application's exit status through the same shared folder
a pod's wrapper uses, so local mode exercises the code that runs in a cluster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metrics_operator.api.metricset import MetricSet
from metrics_operator.api.registry import get_metric
from metrics_operator.containers.common.application import Application, ApplicationNotFound, write_exit_status
from metrics_operator.containers.common.collector import Collector, CollectorContext, RunIdentity
from metrics_operator.containers.common.writer import Destination, SampleWriter
from metrics_operator.sink.store import Run

log = logging.getLogger(__name__)

LOCAL_POD = "local-0"
OUTPUT_TAIL_LINES = 5


class LocalRunError(RuntimeError):
    """Raised when the MetricSet cannot run locally as written; the message names what to change."""


@dataclass
class LocalRunResult:
    """The outcome of a local run: its record, the exit code and the errors."""

    run: Run
    exit_code: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.run.status == "Succeeded"


class RunRecorder:
    """Stores the run's record (Running, then Succeeded or Failed) wherever results go."""

    async def save(self, run: Run) -> None:
        raise NotImplementedError


@dataclass
class LocalRunner:
    """Runs a validated MetricSet on this machine."""

    metricset: MetricSet
    destination: Destination
    recorder: RunRecorder
    process_timeout: float = 60.0
    # Called about every 0.5 s with the writer, for progress displays.
    on_progress: Callable[[SampleWriter, float], None] | None = None
    run_uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Set by the caller before it cancels the run, to name the reason (e.g. "SIGINT") in the run's message.
    interrupted_by: str | None = None

    def __post_init__(self) -> None:
        self._check_runnable()
        self.writer = SampleWriter(self.destination, LOCAL_POD)

    def _check_runnable(self) -> None:
        spec = self.metricset.spec
        if spec.storage is not None:
            kind, _ = spec.storage.volume.source
            if kind != "hostPath":
                raise LocalRunError(
                    f"spec.storage.volume.{kind} cannot be used in local mode: use hostPath with a local folder"
                )
            self._check_folder(Path(spec.storage.volume.host_path), spec.storage.volume.read_only)
        for metric in spec.metrics:
            for tool in get_metric(metric.name).tools:
                if shutil.which(tool.command) is None:
                    raise LocalRunError(
                        f"metric {metric.name!r} needs {tool.command!r}, which is not installed: "
                        f"install it (Debian: apt-get install {tool.package})"
                    )
        endless = [metric.name for metric in spec.metrics if get_metric(metric.name).companion and not metric.completions]
        if len(endless) == len(spec.metrics) and spec.deadline_seconds is None:
            raise LocalRunError(
                f"metric {endless[0]!r} samples until the other metrics finish, but there are none: "
                "add another metric, set its completions, or set spec.deadlineSeconds"
            )

    @staticmethod
    def _check_folder(folder: Path, read_only: bool) -> None:
        if not folder.is_dir():
            raise LocalRunError(
                f"spec.storage.volume.hostPath {str(folder)!r} is not an existing folder: create it (mkdir -p {folder})"
            )
        # Storage metrics write test files unless the volume is declared read-only.
        if not read_only and not os.access(folder, os.W_OK | os.X_OK):
            raise LocalRunError(
                f"spec.storage.volume.hostPath {str(folder)!r} is not writable by this user: "
                "choose a writable folder, or set readOnly: true for metrics that only read"
            )

    async def run(self) -> LocalRunResult:
        """Run the application and every collector; record the run as Succeeded or Failed."""
        metricset = self.metricset
        spec = metricset.spec
        run = Run(
            uid=self.run_uid,
            namespace=metricset.metadata.namespace,
            name=metricset.metadata.name,
            status="Running",
            spec=spec.to_dict(),
            started_at=time.time(),
        )
        await self.recorder.save(run)
        log.info("starting local run %s of %s", run.uid, metricset.key)

        result = LocalRunResult(run=run)
        # Set once every metric but the companions has finished, to stop the companions.
        self._stop = asyncio.Event()
        with tempfile.TemporaryDirectory(prefix="metrics-operator-") as shared:
            shared_dir = Path(shared)
            # Only processes this runner started count, as a pod's PID namespace would ensure.
            application = (
                Application(spec.application.command, shared_dir, scope_pid=os.getpid()) if spec.application else None
            )
            collectors = [self._collector(metric, application, shared_dir) for metric in spec.metrics]
            try:
                await self._run_all(collectors, application, shared_dir, result)
            except asyncio.CancelledError:
                # Ctrl-C or SIGTERM: the application was stopped by _run_all; record the run as Failed.
                result.errors.append(f"the run was interrupted by {self.interrupted_by or 'cancellation'}")
                raise
            finally:
                await self._finish(result)
        return result

    def _collector(self, metric, application: Application | None, shared_dir: Path) -> Collector:
        spec = self.metricset.spec
        storage_path = Path(spec.storage.volume.host_path) if spec.storage else None
        context = CollectorContext(
            run=RunIdentity(
                uid=self.run_uid,
                namespace=self.metricset.metadata.namespace,
                name=self.metricset.metadata.name,
                pod=LOCAL_POD,
            ),
            metric=metric,
            writer=self.writer,
            application=application,
            storage_path=storage_path,
            process_timeout=self.process_timeout,
            scratch_dir=shared_dir,
            stop=self._stop,
        )
        return get_metric(metric.name).collector(context)

    async def _run_all(
        self, collectors: list[Collector], application: Application | None, shared_dir: Path, result: LocalRunResult
    ) -> None:
        spec = self.metricset.spec
        tasks = {asyncio.create_task(collector.run(), name=collector.name): collector for collector in collectors}
        companions = {task for task, collector in tasks.items() if get_metric(collector.name).companion}
        app_task = asyncio.create_task(self._run_application(shared_dir)) if application else None
        progress_task = asyncio.create_task(self._report_progress())
        deadline = None if spec.deadline_seconds is None else time.monotonic() + spec.deadline_seconds
        pending = set(tasks) | ({app_task} if app_task else set())
        try:
            while pending:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    result.errors.append(
                        f"deadline of {spec.deadline_seconds} s (spec.deadlineSeconds) exceeded; the run was stopped"
                    )
                    break
                # Without its process no collector can measure, so there is no point in running on.
                if app_task in pending and any(self._lost_application(task) for task in done):
                    break
                if pending and pending <= companions and not self._stop.is_set():
                    log.info("other metrics of %s finished; stopping %d companion metrics", self.metricset.key, len(pending))
                    self._stop.set()
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            progress_task.cancel()
            await asyncio.gather(progress_task, return_exceptions=True)

        if app_task is not None and app_task.done() and not app_task.cancelled():
            if app_task.exception() is not None:
                result.errors.append(f"application could not be started: {app_task.exception()}")
                return
            exit_code, output_tail = app_task.result()
            result.exit_code = exit_code
            if exit_code != 0:
                detail = f": {output_tail}" if output_tail else ""
                result.errors.append(f"application exited with status {exit_code}{detail}")
        for task, collector in tasks.items():
            if task.cancelled():
                continue
            error = task.exception()
            if error is not None:
                log.error("metric %s failed for %s: %s", collector.name, self.metricset.key, error)
                result.errors.append(f"metric {collector.name}: {error}")

    @staticmethod
    def _lost_application(task: asyncio.Task) -> bool:
        return not task.cancelled() and isinstance(task.exception(), ApplicationNotFound)

    async def _run_application(self, shared_dir: Path) -> tuple[int, str]:
        """Start the application, wait for it, and report its exit status to the collectors."""
        application = self.metricset.spec.application
        command = application.command
        if application.entrypoint:
            command = f"{application.entrypoint} {command}"
        environment = {**os.environ, **application.env}
        working_dir = application.working_dir
        if working_dir and not Path(working_dir).is_dir():
            write_exit_status(shared_dir, 127)
            return 127, f"working directory {working_dir} does not exist"

        output_path = shared_dir / "application.log"
        with output_path.open("wb") as output:
            log.info("starting application: %s", command)
            # A new session, so stopping the run reaches the whole process tree.
            process = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", command, stdout=output, stderr=asyncio.subprocess.STDOUT,
                env=environment, cwd=working_dir, start_new_session=True,
            )
            try:
                exit_code = await process.wait()
            except asyncio.CancelledError:
                self._stop_process_group(process.pid)
                await process.wait()
                write_exit_status(shared_dir, process.returncode if process.returncode is not None else -9)
                raise
        write_exit_status(shared_dir, exit_code)
        log.info("application exited with status %d", exit_code)
        lines = output_path.read_text(errors="replace").strip().splitlines()
        return exit_code, " | ".join(lines[-OUTPUT_TAIL_LINES:])

    @staticmethod
    def _stop_process_group(pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    async def _report_progress(self) -> None:
        started = time.monotonic()
        while True:
            if self.on_progress is not None:
                self.on_progress(self.writer, time.monotonic() - started)
            await asyncio.sleep(0.5)

    async def _finish(self, result: LocalRunResult) -> None:
        run = result.run
        try:
            await self.writer.flush()
        except Exception as error:  # noqa: BLE001 - the run record must still be written
            log.error("storing the last samples of %s failed: %s", self.metricset.key, error)
            result.errors.append(f"storing samples failed: {error}")
        run.ended_at = time.time()
        run.status = "Failed" if result.errors else "Succeeded"
        run.message = "; ".join(result.errors) or None
        await self.recorder.save(run)
        log.info("local run %s of %s ended: %s", run.uid, self.metricset.key, run.status)


class StoreRecorder(RunRecorder):
    """Records runs in a local DuckDB store."""

    def __init__(self, store):
        self.store = store

    async def save(self, run: Run) -> None:
        await asyncio.to_thread(self.store.upsert_run, run)
