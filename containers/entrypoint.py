"""The metric container's entrypoint: read the environment contract, run one collector, report.

The controller sets the MO_* variables of ``containers/common/environment.py`` on each
metric container. The entrypoint validates them, registers the run with the sink as
Running, and runs the collector while pushing its batches. At the end it reports the
run status it saw: Failed when the collector failed or the application's wrapper
wrote a non-zero exit status, Succeeded otherwise. Without MO_SINK_URL nothing is kept, but
the collector's closing JSON summary line still reaches ``kubectl logs``.

Exit codes: 0 when the run succeeded, 1 when it failed, 2 when the environment is invalid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from metrics_operator.api.loader import problems_from
from metrics_operator.api.metricset import Metric
from metrics_operator.api.registry import get_metric
from metrics_operator.containers.common import environment as env
from metrics_operator.containers.common.application import Application, read_exit_status
from metrics_operator.containers.common.collector import CollectorContext, RunIdentity
from metrics_operator.containers.common.pod import mark_done, stop_when_peers_finish
from metrics_operator.containers.common.push import (
    PushDestination,
    PushFailed,
    SinkClient,
    SinkRejected,
    SinkUnavailable,
    check_sink_url,
)
from metrics_operator.containers.common.writer import ResultRow, SampleColumns, SampleWriter

log = logging.getLogger("metrics_operator.containers")

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_INVALID_ENVIRONMENT = 2


class EnvironmentInvalid(ValueError):
    """A MO_* variable is missing or invalid; the message names it and the fix."""


@dataclass(frozen=True)
class Settings:
    """The validated environment of one metric container."""

    run: RunIdentity
    metric: Metric
    app_command: str | None
    shared_dir: Path
    storage_path: Path | None
    leader_host: str
    sink_url: str | None
    sink_token: str | None
    process_timeout: float
    # Every metric of this pod, this one included.
    pod_metrics: tuple[str, ...] = ()


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise EnvironmentInvalid(f"{name} is missing: the operator sets it on every metric container")
    return value


def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise EnvironmentInvalid(f"{name}={text!r} is invalid: use a {'whole ' if kind is int else ''}number") from None
    if value < 0:
        raise EnvironmentInvalid(f"{name}={text!r} is invalid: use a number of at least 0")
    return value


def parse_metric(text: str) -> Metric:
    """Validate MO_METRIC, the JSON of one spec.metrics entry, with the API models."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise EnvironmentInvalid(f"{env.METRIC} is not valid JSON: {error.msg} at column {error.colno}") from None
    try:
        return Metric.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(str(problem) for problem in problems_from(error))
        raise EnvironmentInvalid(f"{env.METRIC} is not a valid metric: {problems}") from None


def read_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate the MO_* variables; raise EnvironmentInvalid naming the first bad one."""
    metric = parse_metric(_required(environ, env.METRIC))
    pod_index = int(_number(environ, env.POD_INDEX, 0, int))
    pods = int(_number(environ, env.PODS, 1, int))
    if pods < 1 or pod_index >= pods:
        raise EnvironmentInvalid(f"{env.POD_INDEX}={pod_index} must be below {env.PODS}={pods}")
    run = RunIdentity(
        uid=_required(environ, env.RUN_UID),
        namespace=_required(environ, env.NAMESPACE),
        name=_required(environ, env.METRICSET),
        pod=environ.get(env.POD_NAME, "").strip() or socket.gethostname(),
        pod_index=pod_index,
        pods=pods,
    )
    storage_path = environ.get(env.STORAGE_PATH, "").strip()
    sink_url = environ.get(env.SINK_URL, "").strip() or None
    if sink_url is not None:
        try:
            check_sink_url(sink_url)
        except ValueError as error:
            raise EnvironmentInvalid(f"{env.SINK_URL}: {error}") from None
    return Settings(
        run=run,
        metric=metric,
        app_command=environ.get(env.APP_COMMAND, "").strip() or None,
        shared_dir=Path(environ.get(env.SHARED_DIR, "").strip() or env.SHARED_DIR_DEFAULT),
        storage_path=Path(storage_path) if storage_path else None,
        leader_host=environ.get(env.LEADER_HOST, "").strip() or "127.0.0.1",
        sink_url=sink_url,
        sink_token=environ.get(env.SINK_TOKEN, "").strip() or None,
        process_timeout=_number(environ, env.PROCESS_TIMEOUT, 60.0, float),
        pod_metrics=tuple(name.strip() for name in environ.get(env.POD_METRICS, "").split(",") if name.strip()),
    )


class DiscardDestination:
    """Keeps nothing, for a MetricSet with the sink disabled; counts what it was given."""

    def __init__(self) -> None:
        self.rows = 0

    async def write(self, samples: SampleColumns, results: list[ResultRow]) -> None:
        self.rows += len(samples) + len(results)


class RunReporter:
    """Registers the run with the sink and reports its final status; remembers whether it got through."""

    def __init__(self, client: SinkClient | None, run: RunIdentity, started_at: float):
        self.client = client
        self.run = run
        self.started_at = started_at
        self.registered = False

    async def report(self, status: str, *, message: str | None = None, ended_at: float | None = None) -> None:
        if self.client is None:
            return
        run = self.run
        body = {
            "uid": run.uid,
            "namespace": run.namespace,
            "name": run.name,
            "status": status,
            "message": message,
            "startedAt": self.started_at,
            "endedAt": ended_at,
        }
        try:
            await self.client.register_run(body)
            self.registered = True
        except (SinkUnavailable, SinkRejected) as error:
            log.error("reporting run %s of %s/%s as %s failed: %s", run.uid, run.namespace, run.name, status, error)


async def run_collector(settings: Settings) -> int:
    """Run the collector and report the outcome; return the exit code."""
    run = settings.run
    client = SinkClient(settings.sink_url, settings.sink_token) if settings.sink_url else None
    destination = PushDestination(client, run.uid) if client else DiscardDestination()
    reporter = RunReporter(client, run, started_at=time.time())
    if client is None:
        log.info("no %s set: results of %s/%s are only logged", env.SINK_URL, run.namespace, run.name)
    await reporter.report("Running")

    # Kubernetes sends SIGTERM when it deletes the pod; stop measuring but still send
    # what was measured and report the run, within the pod's grace period.
    collect_task = asyncio.create_task(_collect(settings, destination))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, collect_task.cancel)
    try:
        errors = await collect_task
    except asyncio.CancelledError:
        log.warning("SIGTERM received: %s of %s/%s stops early", settings.metric.name, run.namespace, run.name)
        errors = [f"metric {settings.metric.name}: stopped by SIGTERM before it finished"]
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    status = read_exit_status(settings.shared_dir) if settings.app_command else None
    if status is not None and status.exit_code != 0:
        errors.append(f"application exited with status {status.exit_code}")

    if isinstance(destination, PushDestination):
        # Batches of an unregistered run are rejected, so register it now if the first report failed.
        if not reporter.registered:
            await reporter.report("Running")
        try:
            await destination.close()
        except PushFailed as error:
            log.error("pushing results of run %s failed: %s", run.uid, error)
            errors.append(str(error))
    outcome = "Failed" if errors else "Succeeded"
    await reporter.report(outcome, message="; ".join(errors) or None, ended_at=time.time())
    if client is not None:
        await client.close()
    log.info("run %s of %s/%s in pod %s: %s", run.uid, run.namespace, run.name, run.pod, outcome)
    return EXIT_FAILED if errors else EXIT_SUCCEEDED


async def _collect(settings: Settings, destination) -> list[str]:
    """Run the metric's collector; return the errors that make the run fail."""
    run = settings.run
    application = Application(settings.app_command, settings.shared_dir) if settings.app_command else None
    context = CollectorContext(
        run=run,
        metric=settings.metric,
        writer=SampleWriter(destination, run.pod),
        application=application,
        storage_path=settings.storage_path,
        process_timeout=settings.process_timeout,
        leader_host=settings.leader_host,
        scratch_dir=settings.shared_dir,
    )
    definition = get_metric(settings.metric.name)
    collector = definition.collector(context)
    watcher = None
    if definition.companion:
        peers = [name for name in settings.pod_metrics if name != definition.name]
        watcher = asyncio.create_task(
            stop_when_peers_finish(settings.shared_dir, peers, context.stop, has_application=application is not None)
        )
    try:
        await collector.run()
    except Exception as error:  # noqa: BLE001 - any collector failure fails the run and is reported
        log.error("metric %s of %s/%s failed: %s", collector.name, run.namespace, run.name, error)
        return [f"metric {collector.name}: {error}"]
    finally:
        if watcher is not None:
            watcher.cancel()
        # Companions of this pod wait for this marker, whatever the outcome.
        mark_done(settings.shared_dir, definition.name)
    return []


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run one metric container from the environment; return the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = read_settings(os.environ if environ is None else environ)
    except EnvironmentInvalid as error:
        log.error("invalid environment: %s", error)
        return EXIT_INVALID_ENVIRONMENT
    return asyncio.run(run_collector(settings))
