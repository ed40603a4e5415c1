"""The metric registry: what each metric needs, stores and runs.

Every metric is one module in ``metrics_operator.containers.catalog`` that defines a
module-level ``METRIC = MetricDefinition(...)``. The registry imports that package
once and indexes the definitions by name, so adding a metric is adding one module.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from metrics_operator.containers.common.collector import Collector

CATALOG_PACKAGE = "metrics_operator.containers.catalog"


class Family(str, enum.Enum):
    """What a metric measures, which decides what the MetricSet must provide."""

    PERF = "perf"
    TIMING = "timing"
    STORAGE = "storage"
    NETWORK = "network"


class Target(str, enum.Enum):
    """The part of a MetricSet that a metric measures."""

    APPLICATION = "application"
    STORAGE = "storage"
    NONE = "none"


FAMILY_TARGET = {
    Family.PERF: Target.APPLICATION,
    Family.TIMING: Target.APPLICATION,
    Family.STORAGE: Target.STORAGE,
    Family.NETWORK: Target.NONE,
}


@dataclass(frozen=True)
class FieldSpec:
    """One numeric field a metric stores as samples, with its unit for docs and summaries."""

    unit: str
    description: str


@dataclass(frozen=True)
class Tool:
    """A program a collector runs: the command local mode looks for on PATH, and its Debian package."""

    command: str
    package: str


@dataclass(frozen=True)
class MetricDefinition:
    """Everything the operator and local mode need to know about one metric."""

    name: str
    family: Family
    summary: str
    options: type[BaseModel]
    image: str
    collector: type[Collector]
    fields: dict[str, FieldSpec]
    needs_ptrace: bool = False
    # Programs the collector runs; the metric's image installs their packages and local
    # mode checks that the commands are on PATH.
    tools: tuple[Tool, ...] = field(default_factory=tuple)
    # Samples beside the pod's other metrics and stops when they finish (the collector
    # context's stop event), unless completions ends it first.
    companion: bool = False
    # The tool counts time in whole seconds, so rate must be a whole number (pidstat).
    whole_second_rate: bool = False

    @property
    def target(self) -> Target:
        return FAMILY_TARGET[self.family]


@cache
def all_metrics() -> dict[str, MetricDefinition]:
    """Import every catalog module and return the definitions by metric name."""
    package = importlib.import_module(CATALOG_PACKAGE)
    definitions: dict[str, MetricDefinition] = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{CATALOG_PACKAGE}.{module_info.name}")
        definition = getattr(module, "METRIC", None)
        if not isinstance(definition, MetricDefinition):
            continue
        if definition.name in definitions:
            raise RuntimeError(f"metric {definition.name!r} is defined twice, in {module.__name__} and earlier")
        definitions[definition.name] = definition
    return definitions


def get_metric(name: str) -> MetricDefinition:
    """Return the definition of metric ``name``, or raise KeyError listing the known ones."""
    metrics = all_metrics()
    if name not in metrics:
        raise KeyError(f"unknown metric {name!r}; known metrics: {', '.join(sorted(metrics))}")
    return metrics[name]
