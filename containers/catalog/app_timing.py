"""app-timing: when the application started and ended, how long it ran, and its exit status."""

from __future__ import annotations

import time

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, FieldSpec, MetricDefinition
from metrics_operator.containers.common.collector import Collector, CollectorError


# Seconds to wait for the wrapper's exit status once the process is gone. An application
# that the operator or local mode did not start has no wrapper, so no status comes.
EXIT_STATUS_WAIT_SECONDS = 5.0


class AppTimingOptions(ApiModel):
    """app-timing has no options."""


class AppTimingCollector(Collector):
    """Waits for the application to start and end, then stores one sample and one result."""

    async def collect(self) -> None:
        application = self.context.application
        if application is None:
            raise CollectorError("metric 'app-timing' needs an application to measure")
        await application.wait_for_start(self.context.process_timeout)
        await application.wait_for_exit()
        ended_at = time.time()

        # The process can vanish a moment before its wrapper writes the exit status.
        status = await application.wait_for_exit_status(EXIT_STATUS_WAIT_SECONDS)
        start_time = application.start_time
        end_time = status.end_time if status is not None else ended_at
        values = {"duration_seconds": end_time - start_time}
        if status is not None:
            values["exit_code"] = float(status.exit_code)
        self.writer.add_sample(self.name, values, timestamp=end_time)
        self.writer.add_result(
            self.name,
            {
                "command": application.command,
                "startTime": start_time,
                "endTime": end_time,
                "durationSeconds": end_time - start_time,
                # Unknown when nothing wrapped the application to report it.
                "exitCode": status.exit_code if status is not None else None,
            },
            timestamp=end_time,
        )


METRIC = MetricDefinition(
    name="app-timing",
    family=Family.TIMING,
    summary="Start time, end time, wall-clock duration and exit status of the application.",
    options=AppTimingOptions,
    image="metrics-operator/perf",
    collector=AppTimingCollector,
    fields={
        "duration_seconds": FieldSpec("s", "wall-clock time from process start to exit"),
        "exit_code": FieldSpec("code", "exit status of the application (0 is success)"),
    },
)
