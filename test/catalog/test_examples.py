"""Every example in examples/ runs in local mode and stores every field its metrics declare.

Examples are run as written, except that volumes become a fresh scratch folder on a
block device and iperf3 ports free ones, so runs cannot collide with anything else.
"""

from __future__ import annotations

import math
import shutil

import pytest
from catalog_runs import REPOSITORY, block_device_folder, free_port, run_metricset

from metrics_operator.api import load_metricsets
from metrics_operator.api.metricset import MetricSet
from metrics_operator.api.registry import all_metrics

EXAMPLES = sorted((REPOSITORY / "examples").glob("*.yaml"))


def _isolated(metricset: MetricSet, scratch) -> MetricSet:
    document = metricset.to_dict()
    spec = document["spec"]
    if "storage" in spec:
        # A claimName example (for clusters) runs on the local folder in its place.
        volume = spec["storage"]["volume"]
        spec["storage"]["volume"] = {"hostPath": str(scratch), "path": volume.get("path", "/data")}
    for metric in spec["metrics"]:
        if metric["name"] == "network-iperf3":
            metric["options"]["port"] = free_port()
    return MetricSet.model_validate(document)


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
async def test_example_stores_every_field(store, example):
    scratch = block_device_folder()
    stored: dict[tuple[str, str], dict] = {}
    declared: set[tuple[str, str]] = set()
    try:
        for metricset in load_metricsets(example):
            result = await run_metricset(store, _isolated(metricset, scratch))
            assert result.run.status == "Succeeded", f"{metricset.key}: {result.run.message}"
            for row in store.summary(result.run.uid):
                stored[(row["metric"], row["field"])] = row
            for metric in metricset.spec.metrics:
                declared |= {(metric.name, field) for field in all_metrics()[metric.name].fields}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    missing = sorted(declared - set(stored))
    assert not missing, f"{example.name}: fields declared but never stored: {missing}"
    for key, row in stored.items():
        assert row["count"] > 0, key
        for statistic in ("min", "mean", "max", "p50", "p95", "p99"):
            assert math.isfinite(row[statistic]), f"{key} {statistic} = {row[statistic]}"
