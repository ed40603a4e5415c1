"""Helpers for tests that run MetricSets through the real local runner into a real DuckDB file.

The fixtures here are imported by the conftest.py of each folder that uses them.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from metrics_operator.api import parse_metricset
from metrics_operator.api.metricset import MetricSet
from metrics_operator.local.runner import LocalRunner, LocalRunResult, StoreRecorder
from metrics_operator.sink.store import Store, StoreDestination

REQUIRED_TOOLS = ("stress-ng", "fio", "pidstat", "iperf3")


@pytest.fixture(scope="session", autouse=True)
def tools_installed():
    # These tests measure real programs; a missing one is a broken set-up, not a reason to skip.
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: run 'apt-get install fio sysstat stress-ng iperf3'")


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "metrics.duckdb") as opened:
        yield opened


def metricset_document(name: str, spec: dict) -> dict:
    return {"apiVersion": "metrics-operator.io/v1alpha1", "kind": "MetricSet", "metadata": {"name": name}, "spec": spec}


def metricset(name: str, spec: dict) -> MetricSet:
    return parse_metricset(metricset_document(name, spec))


def unique_marker() -> str:
    """Return an argument that makes a command line unique, so collectors find only this test's process."""
    return f"marker-{uuid.uuid4().hex[:10]}"


async def run_metricset(store: Store, metricset: MetricSet, process_timeout: float = 20.0) -> LocalRunResult:
    """Run one MetricSet through the real local runner into ``store``."""
    run_uid = str(uuid.uuid4())
    runner = LocalRunner(
        metricset=metricset,
        destination=StoreDestination(store, run_uid),
        recorder=StoreRecorder(store),
        process_timeout=process_timeout,
        run_uid=run_uid,
    )
    return await runner.run()


async def run_local(store: Store, name: str, spec: dict, process_timeout: float = 20.0) -> LocalRunResult:
    return await run_metricset(store, metricset(name, spec), process_timeout)


def summary_by_field(store: Store, run_uid: str) -> dict[tuple[str, str], dict]:
    return {(row["metric"], row["field"]): row for row in store.summary(run_uid)}


def write_yaml(path: Path, document: dict) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path
