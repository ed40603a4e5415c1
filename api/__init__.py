"""MetricSet API: the pydantic models users write in YAML, and the metric registry."""

from metrics_operator.api.loader import MetricSetInvalid, load_metricsets, load_metricsets_text, parse_metricset
from metrics_operator.api.metricset import (
    API_VERSION,
    GROUP,
    KIND,
    VERSION,
    Application,
    Metric,
    MetricSet,
    MetricSetSpec,
    MetricSetStatus,
    Storage,
    Volume,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "VERSION",
    "Application",
    "Metric",
    "MetricSet",
    "MetricSetInvalid",
    "MetricSetSpec",
    "MetricSetStatus",
    "Storage",
    "Volume",
    "load_metricsets",
    "load_metricsets_text",
    "parse_metricset",
]
