"""What the apiserver itself accepts: the CRD's schema and CEL rules, and the JobSet webhook on generated JobSets."""

from __future__ import annotations

import copy
import json

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from operator_helpers import create_metricset, example, metricset, read_metricset

from metrics_operator.api.loader import parse_metricset
from metrics_operator.api.metricset import GROUP, PLURAL, VERSION
from metrics_operator.controller.config import OperatorConfig
from metrics_operator.controller.jobset import build_jobset

EXAMPLE_FILES = [
    ("cpu-memory.yaml", 0),
    ("storage-fio.yaml", 0),
    ("storage-fio-pvc.yaml", 0),
    ("network-iperf3.yaml", 0),
    ("sysstat-cpu-memory.yaml", 0),
]


def invalid_cases() -> list[tuple[str, dict, str]]:
    both = metricset("both")
    both["spec"]["storage"] = {"volume": {"claimName": "scratch"}}

    two_sources = example("storage-fio.yaml")
    two_sources["metadata"]["name"] = "two-sources"
    two_sources["spec"]["storage"]["volume"]["claimName"] = "scratch"

    unknown = metricset("unknown-metric", metrics=[{"name": "no-such-metric"}])
    misfit = metricset("misfit", metrics=[{"name": "io-fio"}])
    duplicate = metricset("duplicate", metrics=[{"name": "app-timing"}, {"name": "app-timing"}])
    long_name = metricset("a" * 41)
    bad_rate = metricset("bad-rate", metrics=[{"name": "app-timing", "rate": 0}])
    return [
        ("application-and-storage", both, "not both"),
        ("two-volume-sources", two_sources, "exactly one of claimName, hostPath"),
        ("unknown-metric", unknown, 'Unsupported value: "no-such-metric"'),
        ("storage-metric-without-storage", misfit, "spec.storage.volume must be set"),
        ("duplicate-metric", duplicate, "listed twice"),
        ("name-too-long", long_name, "at most 40 characters"),
        ("rate-zero", bad_rate, "spec.metrics[0].rate"),
    ]


@pytest.mark.parametrize(("case", "body", "message"), invalid_cases(), ids=[case[0] for case in invalid_cases()])
async def test_invalid_metricset_rejected(custom, namespace: str, case: str, body: dict, message: str) -> None:
    with pytest.raises(ApiException) as raised:
        await create_metricset(custom, namespace, body)
    assert raised.value.status == 422
    assert message in json.loads(raised.value.body)["message"]


async def test_spec_change_rejected(custom, namespace: str) -> None:
    await create_metricset(custom, namespace, metricset("frozen"))
    stored = await read_metricset(custom, namespace, "frozen")
    changed = copy.deepcopy(stored)
    changed["spec"]["pods"] = 3

    with pytest.raises(ApiException) as raised:
        await custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "frozen", changed)
    assert raised.value.status == 422
    assert "spec is immutable: create a new MetricSet to measure again" in json.loads(raised.value.body)["message"]

    # Labels and annotations stay editable.
    patch = {"metadata": {"labels": {"team": "storage"}}}
    patched = await custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "frozen", patch, _content_type="application/merge-patch+json"
    )
    assert patched["metadata"]["labels"] == {"team": "storage"}


async def test_defaults_applied_by_apiserver(custom, namespace: str) -> None:
    created = await create_metricset(custom, namespace, metricset("defaults"))
    assert created["spec"]["pods"] == 1
    assert created["spec"]["serviceName"] == "ms"
    assert created["spec"]["sink"] == {"enabled": True}
    assert created["spec"]["metrics"][0]["rate"] == 10


@pytest.mark.parametrize(("file", "index"), EXAMPLE_FILES, ids=[file for file, _ in EXAMPLE_FILES])
async def test_example_jobset_passes_webhook(api_client: client.ApiClient, custom, namespace: str, file: str, index: int) -> None:
    document = example(file, index)
    created = await create_metricset(custom, namespace, document)
    model = parse_metricset(created)
    jobset = build_jobset(model, created, OperatorConfig())

    # A server-side dry run goes through the JobSet defaulting and validating webhooks without storing anything.
    objects = client.CustomObjectsApi(api_client)
    result = await objects.create_namespaced_custom_object("jobset.x-k8s.io", "v1alpha2", namespace, "jobsets", jobset, dry_run="All")
    assert result["metadata"]["name"] == document["metadata"]["name"]
    assert result["spec"]["replicatedJobs"][0]["template"]["spec"]["completions"] == model.spec.pods
