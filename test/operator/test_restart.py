"""Crash and leadership: a SIGKILLed operator restarted mid-run, and two replicas sharing one Lease."""

from __future__ import annotations

import asyncio
from collections import Counter

from kubernetes_asyncio import client
from operator_helpers import create_metricset, metricset, wait_until

from metrics_operator.api.metricset import GROUP, PLURAL, VERSION

METRICSETS = 50
TIMEOUT = 120


async def list_jobsets(api_client: client.ApiClient, namespace: str) -> list[dict]:
    objects = client.CustomObjectsApi(api_client)
    return (await objects.list_namespaced_custom_object("jobset.x-k8s.io", "v1alpha2", namespace, "jobsets"))["items"]


async def list_metricsets(custom, namespace: str) -> list[dict]:
    return (await custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))["items"]


async def test_sigkill_mid_reconcile_converges(api_client, custom, namespace: str, start_operator) -> None:
    for index in range(METRICSETS):
        await create_metricset(custom, namespace, metricset(f"crash-{index:02d}"))

    # One worker keeps the first process slow enough to be killed part-way.
    first = start_operator("--workers", "1")
    await wait_until(lambda: _at_least(list_jobsets(api_client, namespace), 5), timeout=TIMEOUT, what="5 JobSets from the first operator", interval=0.05)
    first.kill()
    created_before_kill = len(await list_jobsets(api_client, namespace))

    second = start_operator("--workers", "4")
    await wait_until(lambda: _at_least(list_jobsets(api_client, namespace), METRICSETS), timeout=TIMEOUT, what=f"{METRICSETS} JobSets")
    await wait_until(lambda: _all_have_status(custom, namespace), timeout=TIMEOUT, what="a status on every MetricSet")
    await asyncio.sleep(2)

    jobsets = await list_jobsets(api_client, namespace)
    metricsets = {item["metadata"]["name"]: item for item in await list_metricsets(custom, namespace)}
    owners = Counter(jobset["metadata"]["ownerReferences"][0]["uid"] for jobset in jobsets)
    assert len(jobsets) == METRICSETS
    assert set(owners) == {item["metadata"]["uid"] for item in metricsets.values()}
    assert max(owners.values()) == 1
    for name, item in metricsets.items():
        status = item["status"]
        assert status["jobSetName"] == name
        assert status["phase"] in ("Pending", "Running", "Succeeded"), name
        assert status["observedGeneration"] == item["metadata"]["generation"]
    assert 5 <= created_before_kill <= METRICSETS
    assert second.process.poll() is None, second.log()


async def _at_least(read, count: int) -> bool:
    return len(await read) >= count


async def _all_have_status(custom, namespace: str) -> bool:
    items = await list_metricsets(custom, namespace)
    return all((item.get("status") or {}).get("phase") for item in items)


async def test_only_leader_reconciles(api_client, custom, namespace: str, start_operator) -> None:
    lease = ["--leader-elect", "--lease-namespace", namespace, "--lease-name", "operator-test"]
    first = start_operator(*lease, "--identity", "first")
    await wait_until(first.ready, timeout=60, what="first operator /readyz")
    await wait_until(lambda: first.metric("metrics_operator_leader"), timeout=60, what="first operator leading")
    second = start_operator(*lease, "--identity", "second")
    await wait_until(second.ready, timeout=60, what="second operator /readyz")

    await create_metricset(custom, namespace, metricset("led"))
    await wait_until(lambda: _at_least(list_jobsets(api_client, namespace), 1), timeout=60, what="JobSet led")
    await asyncio.sleep(3)
    assert await second.metric("metrics_operator_leader") == 0
    assert await second.metric("metrics_operator_reconcile_total") == 0
    assert await first.metric("metrics_operator_reconcile_total") > 0

    # A clean stop releases the Lease, so the second replica takes over without waiting out its duration.
    assert first.stop() == 0
    await wait_until(lambda: second.metric("metrics_operator_leader"), timeout=30, what="second operator leading")
    lease_object = await client.CoordinationV1Api(api_client).read_namespaced_lease("operator-test", namespace)
    assert lease_object.spec.holder_identity == "second"
