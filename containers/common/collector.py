"""The collector contract and the sampling loop that most metrics share."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_operator.containers.common.application import Application
from metrics_operator.containers.common.writer import SampleWriter

if TYPE_CHECKING:
    from metrics_operator.api.metricset import Metric

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunIdentity:
    """The identity of the run a collector measures for: the MetricSet and the pod it runs in."""

    uid: str
    namespace: str
    name: str
    pod: str
    pod_index: int = 0
    pods: int = 1


@dataclass
class CollectorContext:
    """Everything a collector needs from its surroundings (a pod, or the local runner)."""

    run: RunIdentity
    metric: Metric
    writer: SampleWriter
    application: Application | None = None
    storage_path: Path | None = None
    # Seconds to wait for the application's process before failing.
    process_timeout: float = 60.0
    # Host name of pod 0 for metrics whose pods talk to each other (network tests).
    leader_host: str = "127.0.0.1"
    scratch_dir: Path = field(default_factory=lambda: Path("/tmp"))
    # Set by the local runner, or the container entrypoint, when the pod's other metrics
    # have finished; companion metrics such as io-stat sample until then.
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class CollectorError(RuntimeError):
    """Raised when a collector cannot measure; the message names what failed and what to do."""


class Collector(ABC):
    """One running metric. Subclasses implement ``collect``; ``run`` wraps it with logging."""

    def __init__(self, context: CollectorContext):
        self.context = context
        self.metric = context.metric
        self.options = context.metric.options_model()
        self.writer = context.writer
        self.log = logging.LoggerAdapter(
            log, {"run": f"{context.run.namespace}/{context.run.name}", "metric": self.metric.name}
        )

    @property
    def name(self) -> str:
        return self.metric.name

    @abstractmethod
    async def collect(self) -> None:
        """Measure until done, writing samples and results through ``self.writer``."""

    async def run(self) -> None:
        """Run the collector, flush what it measured (also on failure), and log a summary line."""
        run = self.context.run
        self.log.info("starting %s for %s/%s in pod %s", self.name, run.namespace, run.name, run.pod)
        started = time.monotonic()
        try:
            await self.collect()
        finally:
            await self.writer.flush()
            self.log.info("%s", json.dumps(self.summary_line(time.monotonic() - started), sort_keys=True))

    def summary_line(self, seconds: float) -> dict[str, Any]:
        """Build the structured closing line, so ``kubectl logs`` shows results even without a sink."""
        run = self.context.run
        return {
            "event": "metric-finished",
            "metricset": f"{run.namespace}/{run.name}",
            "run": run.uid,
            "pod": run.pod,
            "metric": self.name,
            "samples": self.writer.counts.get(self.name, 0),
            "seconds": round(seconds, 3),
            "last": self.writer.latest.get(self.name, {}),
        }


class PeriodicCollector(Collector):
    """Samples every ``rate`` seconds until the measured thing ends or ``completions`` samples are taken.

    By default the measured thing is the application; subclasses that measure something
    else override ``wait_until_ready`` and ``wait_for_end``.
    """

    async def start(self) -> None:
        """Take a baseline before the first interval (called once the target is ready)."""

    @abstractmethod
    def sample(self, elapsed: float) -> dict[str, float] | None:
        """Return one sample's values, or None if there was nothing to measure."""

    async def wait_until_ready(self) -> None:
        """Wait for the application's process to appear."""
        application = self.context.application
        if application is None:
            raise CollectorError(f"metric {self.name!r} needs an application to measure")
        await application.wait_for_start(self.context.process_timeout)

    async def wait_for_end(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the application to exit; return whether it did."""
        return await self.context.application.wait_for_exit(timeout=timeout)

    async def collect(self) -> None:
        await self.wait_until_ready()
        await self.start()
        completions = self.metric.completions
        rate = self.metric.rate
        taken = 0
        last = time.monotonic()
        next_at = last + rate
        while completions == 0 or taken < completions:
            ended = await self.wait_for_end(max(0.0, next_at - time.monotonic()))
            if ended:
                self.log.info("measured target ended; %s stops after %d samples", self.name, taken)
                return
            now = time.monotonic()
            values = await asyncio.to_thread(self.sample, now - last)
            last = now
            next_at += rate
            if values is not None:
                self.writer.add_sample(self.name, values)
                taken += 1
                await self.writer.maybe_flush()
