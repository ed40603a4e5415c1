"""Prometheus metrics of the sink: summaries of finished runs and the sink's own health.

Summary series are bounded: only the latest completed (Succeeded or Failed) run of
each MetricSet is exported, and only for the ``max_metricsets`` MetricSets whose
latest run ended most recently. Older MetricSets past that bound are left out and
counted in ``metrics_sink_metricsets_omitted``; their data stays queryable over
``/v1``. So the series count is at most max_metricsets x fields x 7 statistics, plus
one info series per MetricSet.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from metrics_operator.sink.database import Database
from metrics_operator.sink.store import SUMMARY_STATISTICS, StoreReader

DEFAULT_MAX_METRICSETS = 100

# Reasons a batch is rejected, set to 0 at start so every series exists before the first failure.
REJECTION_REASONS = (
    "malformed_body",
    "invalid_columns",
    "too_many_rows",
    "body_too_large",
    "unsupported_content_type",
    "missing_idempotency_key",
    "unknown_run",
    "run_conflict",
    "unauthorized",
)


class SummaryCollector(Collector):
    """Reads the summaries of recent completed runs from DuckDB at each scrape."""

    def __init__(self, database: Database, max_metricsets: int):
        self.database = database
        self.max_metricsets = max_metricsets

    def collect(self) -> Iterator[Metric]:
        # NOTE: each scrape recomputes the quantiles over every sample of the exported runs.
        # With very large runs, a cache refreshed once per scrape interval would be cheaper.
        summaries, completed, size = self.database.read_now(self._read)
        statistic = GaugeMetricFamily(
            "metrics_sink_run_summary",
            "Summary statistic of one metric field in the latest completed run of a MetricSet.",
            labels=["namespace", "metricset", "metric", "series", "field", "statistic"],
        )
        info = GaugeMetricFamily(
            "metrics_sink_run_info",
            "Latest completed run of a MetricSet (value 1), with its uid and status.",
            labels=["namespace", "metricset", "run", "status"],
        )
        exported = set()
        for row in summaries:
            key = (row.namespace, row.name)
            if key not in exported:
                exported.add(key)
                info.add_metric([row.namespace, row.name, row.uid, row.status], 1)
            for name in SUMMARY_STATISTICS:
                value = row.statistics[name]
                if value is not None:
                    statistic.add_metric([row.namespace, row.name, row.metric, row.series, row.field, name], float(value))
        yield statistic
        yield info
        yield GaugeMetricFamily(
            "metrics_sink_metricsets_omitted",
            "MetricSets with a completed run that are not exported because of the max-metricsets bound.",
            value=max(0, completed - self.max_metricsets),
        )
        yield GaugeMetricFamily("metrics_sink_database_size_bytes", "Size of the DuckDB file and its WAL.", value=size)

    def _read(self, reader: StoreReader) -> tuple[list, int, int]:
        return (
            reader.latest_completed_summaries(self.max_metricsets),
            reader.completed_metricset_count(),
            self.database.store.size_bytes(),
        )


class SinkMetrics:
    """The sink's Prometheus registry: one per app instance, so tests never share series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.samples_ingested = Counter(
            "metrics_sink_samples_ingested", "Sample rows stored.", registry=self.registry
        )
        self.results_ingested = Counter(
            "metrics_sink_results_ingested", "Result documents stored.", registry=self.registry
        )
        self.batches_duplicate = Counter(
            "metrics_sink_batches_duplicate",
            "Batches received again with an idempotency key already stored; acknowledged, not stored twice.",
            registry=self.registry,
        )
        self.batches_rejected = Counter(
            "metrics_sink_batches_rejected", "Requests rejected, by reason.", ["reason"], registry=self.registry
        )
        for reason in REJECTION_REASONS:
            self.batches_rejected.labels(reason)
        self.batch_seconds = Histogram(
            "metrics_sink_batch_seconds",
            "Time from receiving a batch to its commit, in seconds.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def watch(self, database: Database, max_metricsets: int) -> None:
        """Export run summaries and the database size from ``database`` at each scrape."""
        self.registry.register(SummaryCollector(database, max_metricsets))

    def render(self) -> bytes:
        """Return the text exposition format; reads DuckDB, so call it off the event loop."""
        return generate_latest(self.registry)
