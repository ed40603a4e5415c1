"""Prometheus metrics of one controller instance, in a registry of its own.

A registry per instance keeps tests and several controllers in one process apart.
Every labelled series that is known up front starts at 0, so a rate() over it
works from the first scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RESULTS = ("success", "requeue", "error", "conflict")
WRITE_VERBS = ("create", "update", "patch", "delete")


class ControllerMetrics:
    """Reconcile, work queue and API write metrics of one controller."""

    def __init__(self, registry: CollectorRegistry | None = None, kinds: tuple[str, ...] = ()):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.reconcile_total = Counter(
            "metrics_operator_reconcile_total",
            "Reconcile passes by result.",
            ["result"],
            registry=self.registry,
        )
        self.reconcile_errors_total = Counter(
            "metrics_operator_reconcile_errors_total",
            "Reconcile passes that raised an error (temporary or unexpected).",
            registry=self.registry,
        )
        self.reconcile_duration_seconds = Histogram(
            "metrics_operator_reconcile_duration_seconds",
            "Time spent in one reconcile pass.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "metrics_operator_workqueue_depth",
            "Keys waiting in the work queue, not counting delayed retries.",
            registry=self.registry,
        )
        self.queue_latency_seconds = Histogram(
            "metrics_operator_workqueue_queue_duration_seconds",
            "Time a key waits in the work queue before a worker takes it.",
            registry=self.registry,
        )
        self.api_writes_total = Counter(
            "metrics_operator_api_write_requests_total",
            "Write requests sent to the Kubernetes API, by verb and kind.",
            ["verb", "kind"],
            registry=self.registry,
        )
        self.api_requests_total = Counter(
            "metrics_operator_api_requests_total",
            "Requests sent to the Kubernetes API, by RBAC verb and resource (plural, or plural/subresource).",
            ["verb", "resource"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "metrics_operator_leader",
            "1 while this instance holds the leader Lease.",
            registry=self.registry,
        )
        for result in RESULTS:
            self.reconcile_total.labels(result)
        for kind in kinds:
            for verb in WRITE_VERBS:
                self.api_writes_total.labels(verb, kind)

    def api_writes(self) -> float:
        """Return the total of API write requests so far, over all verbs and kinds."""
        total = 0.0
        for metric in self.api_writes_total.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    total += sample.value
        return total
