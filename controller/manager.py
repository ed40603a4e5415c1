"""Run the MetricSet controller: informers, work queue, workers, leader election and HTTP endpoints.

Start order: serve /healthz, start the informers and wait until every cache is
synced (so a restarted operator sees the JobSets it created before it decides to
create any), take the leader Lease if asked, then start the workers. SIGTERM or
SIGINT drains the workers, releases the Lease and stops.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from kubernetes_asyncio import client

from metrics_operator.api.metricset import KIND
from metrics_operator.controller.config import OperatorConfig
from metrics_operator.controller.reconciler import MetricSetReconciler
from metrics_operator.controller.resources import (
    DEPLOYMENTS,
    EVENTS,
    JOBSETS,
    MANAGED_SELECTOR,
    METRICSETS,
    PVCS,
    SECRETS,
    SERVICES,
    owner_uids,
)
from metrics_operator.controller.runtime.logcontext import get_logger, new_reconcile_id
from metrics_operator.controller.runtime.errors import ApiError, TemporaryError
from metrics_operator.controller.runtime.informer import Informer
from metrics_operator.controller.runtime.kube import KubeClient
from metrics_operator.controller.runtime.leader import LEASES, LeaderElector
from metrics_operator.controller.runtime.metrics import ControllerMetrics
from metrics_operator.controller.runtime.server import build_app, start_server
from metrics_operator.controller.runtime.workqueue import ShutDown, WorkQueue

log = get_logger(__name__)

WRITTEN_KINDS = tuple(resource.kind for resource in (METRICSETS, JOBSETS, DEPLOYMENTS, SERVICES, PVCS, SECRETS, EVENTS, LEASES))
SHUTDOWN_GRACE_SECONDS = 20.0


@dataclass
class ControllerOptions:
    """Command-line settings of one controller process."""

    namespace: str | None = None
    workers: int = 4
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8081
    leader_elect: bool = False
    lease_namespace: str = "default"
    lease_name: str = "metrics-operator"
    identity: str = "metrics-operator"


class Controller:
    """One operator instance; ``run`` returns on SIGTERM, SIGINT or lost leadership."""

    def __init__(self, api_client: client.ApiClient, config: OperatorConfig, options: ControllerOptions):
        self.config = config
        self.options = options
        self.metrics = ControllerMetrics(kinds=WRITTEN_KINDS)
        self.kube = KubeClient(api_client, self.metrics)
        self.queue = WorkQueue(metrics=self.metrics)
        self.stopping = asyncio.Event()
        self.exit_code = 0

        namespace = options.namespace
        self.metricsets = Informer(self.kube, METRICSETS, namespace=namespace)
        self.owned = [
            Informer(self.kube, JOBSETS, namespace=namespace, label_selector=MANAGED_SELECTOR),
            Informer(self.kube, DEPLOYMENTS, namespace=namespace, label_selector=MANAGED_SELECTOR),
            Informer(self.kube, SERVICES, namespace=namespace, label_selector=MANAGED_SELECTOR),
            Informer(self.kube, SECRETS, namespace=namespace, label_selector=MANAGED_SELECTOR),
            # Every PVC, not only the sink's: a MetricSet may wait for the user's storage claim.
            Informer(self.kube, PVCS, namespace=namespace),
        ]
        self.informers = [self.metricsets, *self.owned]
        self.caches = {informer.resource.kind: informer for informer in self.informers}
        self.reconciler = MetricSetReconciler(self.kube, self.caches, config, options.identity)

        self.metricsets.add_handler(self._on_metricset)
        self.caches[JOBSETS.kind].add_handler(self._on_owned_by_metricset)
        for informer in self.owned[1:]:
            informer.add_handler(self._on_namespace_object)

    # Event handlers only map objects to keys; the reconcile pass reads the caches itself.
    def _on_metricset(self, event_type: str, obj: dict[str, Any]) -> None:
        metadata = obj["metadata"]
        self.queue.add(f"{metadata['namespace']}/{metadata['name']}")

    def _on_owned_by_metricset(self, event_type: str, obj: dict[str, Any]) -> None:
        for name, _ in owner_uids(obj, KIND):
            self.queue.add(f"{obj['metadata']['namespace']}/{name}")

    def _on_namespace_object(self, event_type: str, obj: dict[str, Any]) -> None:
        namespace = obj["metadata"]["namespace"]
        for metricset in self.metricsets.list(namespace):
            self.queue.add(f"{namespace}/{metricset['metadata']['name']}")

    def is_ready(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    async def _process(self, key: str) -> None:
        """Run one reconcile pass for ``key`` and decide whether and when it runs again."""
        new_reconcile_id()
        with self.metrics.reconcile_duration_seconds.time():
            try:
                result = await self.reconciler.reconcile(key)
            except ApiError as error:
                if error.is_conflict:
                    log.debug("%s: conflict (%s); requeued", key, error.message)
                    self.metrics.reconcile_total.labels("conflict").inc()
                    self.queue.add_rate_limited(key)
                    return
                if error.is_not_found:
                    log.debug("%s: not found (%s); ignored", key, error.message)
                    self.metrics.reconcile_total.labels("success").inc()
                    self.queue.forget(key)
                    return
                self._retry(key, error)
                return
            except TemporaryError as error:
                self._retry(key, error)
                return
            except Exception as error:
                log.exception("%s: reconcile failed unexpectedly", key)
                self._retry(key, error)
                return

        self.queue.forget(key)
        if result.requeue_after is not None:
            self.metrics.reconcile_total.labels("requeue").inc()
            self.queue.add_after(key, result.requeue_after)
        else:
            self.metrics.reconcile_total.labels("success").inc()

    def _retry(self, key: str, error: Exception) -> None:
        self.metrics.reconcile_total.labels("error").inc()
        self.metrics.reconcile_errors_total.inc()
        delay = self.queue.add_rate_limited(key)
        log.warning("%s: reconcile failed: %s; retry %d in %.1f s", key, error, self.queue.failures(key), delay)

    async def _worker(self, number: int) -> None:
        log.debug("worker %d started", number)
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                log.debug("worker %d stopped", number)
                return
            try:
                await self._process(key)
            finally:
                self.queue.done(key)

    async def run(self) -> int:
        """Run until stopped; return the process exit code (1 when leadership was lost)."""
        runner = await start_server(build_app(self.metrics, self.is_ready), self.options.metrics_host, self.options.metrics_port)
        informer_tasks = [asyncio.create_task(informer.run(), name=f"informer-{informer.resource.kind}") for informer in self.informers]
        elector = None
        renewal: asyncio.Task | None = None
        tasks: list[asyncio.Task] = []
        try:
            if not await self._wait(asyncio.gather(*(informer.synced.wait() for informer in self.informers))):
                return self.exit_code
            log.info("caches synced: %d MetricSets", len(self.metricsets.cache))

            if self.options.leader_elect:
                elector = LeaderElector(
                    self.kube, namespace=self.options.lease_namespace, name=self.options.lease_name, identity=self.options.identity
                )
                if not await self._wait(elector.acquire()):
                    return self.exit_code
                self.metrics.leader.set(1)
                renewal = asyncio.create_task(self._watch_leadership(elector))

            tasks += [asyncio.create_task(self._worker(number)) for number in range(self.options.workers)]
            log.info("started %d workers", self.options.workers)
            await self.stopping.wait()
        finally:
            if renewal is not None:
                renewal.cancel()
            await self._shut_down(tasks, informer_tasks, elector, runner)
        return self.exit_code

    async def _wait(self, awaitable) -> bool:
        """Await ``awaitable`` unless a stop comes first; return whether it finished."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            task.cancel()
            return False
        task.result()
        return True

    async def _watch_leadership(self, elector: LeaderElector) -> None:
        await elector.keep_renewing()
        if not self.stopping.is_set():
            log.error("lost the leader Lease; stopping so that only the new leader reconciles")
            self.exit_code = 1
            self.stopping.set()

    async def _shut_down(self, tasks, informer_tasks, elector: LeaderElector | None, runner: web.AppRunner) -> None:
        log.info("stopping: draining workers")
        self.queue.shut_down()
        workers = [task for task in tasks if not task.done()]
        if workers:
            # Workers finish the pass they are in, within a grace period.
            _, pending = await asyncio.wait(workers, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()
        for task in informer_tasks:
            task.cancel()
        await asyncio.gather(*informer_tasks, *tasks, return_exceptions=True)
        if elector is not None:
            await elector.release()
            self.metrics.leader.set(0)
        await runner.cleanup()
        log.info("stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, self._on_signal, signal_number)

    def _on_signal(self, signal_number: int) -> None:
        log.info("received %s; shutting down", signal.Signals(signal_number).name)
        self.stopping.set()
