"""End to end with kube-controller-manager, the JobSet controller and KWOK: phases, failure and garbage collection.

KWOK simulates the pods. MetricSet labels and annotations are copied to the pods,
which is how these tests use KWOK's stages: the complete-delay annotations keep a
pod Running for a while, and the fail label makes a running pod fail.
"""

from __future__ import annotations

from kubernetes_asyncio import client
from operator_helpers import (
    COMPLETE_DELAY,
    COMPLETE_JITTER,
    FAIL_LABEL,
    create_metricset,
    metricset,
    read_metricset,
    read_or_none,
    wait_until,
)

from metrics_operator.api.metricset import GROUP, PLURAL, VERSION

TIMEOUT = 120
RUN_SECONDS = "8s"


async def phase_events(api_client: client.ApiClient, namespace: str, name: str) -> list[str]:
    """Return the sorted reasons of the operator's Events on MetricSet ``name``.

    Event timestamps have whole seconds, so two Events of one second cannot be ordered.
    """
    events = await client.CoreV1Api(api_client).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=MetricSet"
    )
    return sorted(event.reason for event in events.items)


async def phase_of(custom, namespace: str, name: str) -> str | None:
    return ((await read_metricset(custom, namespace, name)).get("status") or {}).get("phase")


async def test_phases_pending_running_succeeded(api_client, custom, namespace: str, operator) -> None:
    annotations = {COMPLETE_DELAY: RUN_SECONDS, COMPLETE_JITTER: RUN_SECONDS}
    await create_metricset(custom, namespace, metricset("passes", annotations=annotations, pods=2))

    await wait_until(lambda: _phase_is(custom, namespace, "passes", "Running"), timeout=TIMEOUT, what="phase Running")
    await wait_until(lambda: _phase_is(custom, namespace, "passes", "Succeeded"), timeout=TIMEOUT, what="phase Succeeded")

    status = (await read_metricset(custom, namespace, "passes"))["status"]
    assert status["completionTime"]
    assert status["startTime"] <= status["completionTime"]
    completed = [item for item in status["conditions"] if item["type"] == "Completed"]
    assert completed[0]["status"] == "True"
    assert await phase_events(api_client, namespace, "passes") == ["Pending", "Running", "Succeeded"]


async def test_failed_pod_fails_metricset(api_client, custom, namespace: str, operator) -> None:
    await create_metricset(custom, namespace, metricset("fails", labels={FAIL_LABEL: "true"}))

    await wait_until(lambda: _phase_is(custom, namespace, "fails", "Failed"), timeout=TIMEOUT, what="phase Failed")

    status = (await read_metricset(custom, namespace, "fails"))["status"]
    failed = [item for item in status["conditions"] if item["type"] == "Failed"]
    assert failed[0]["status"] == "True"
    assert failed[0]["reason"]
    assert "Failed" in await phase_events(api_client, namespace, "fails")


async def test_delete_collects_jobset_keeps_sink(api_client, custom, namespace: str, operator) -> None:
    await create_metricset(custom, namespace, metricset("short-lived"))
    objects = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)

    async def jobs() -> list:
        return (await batch.list_namespaced_job(namespace, label_selector="jobset.sigs.k8s.io/jobset-name=short-lived")).items

    await wait_until(jobs, timeout=TIMEOUT, what="Jobs of JobSet short-lived")
    await wait_until(
        lambda: read_or_none(apps.read_namespaced_deployment("metrics-sink", namespace)), timeout=TIMEOUT, what="sink Deployment"
    )

    await objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "short-lived")

    async def jobset_gone() -> bool:
        found = await read_or_none(objects.get_namespaced_custom_object("jobset.x-k8s.io", "v1alpha2", namespace, "jobsets", "short-lived"))
        return found is None

    async def jobs_gone() -> bool:
        return not await jobs()

    await wait_until(jobset_gone, timeout=TIMEOUT, what="garbage collection of JobSet short-lived")
    await wait_until(jobs_gone, timeout=TIMEOUT, what="garbage collection of its Jobs")
    assert await read_or_none(apps.read_namespaced_deployment("metrics-sink", namespace)) is not None
    assert await read_or_none(core.read_namespaced_secret("metrics-sink-token", namespace)) is not None
    assert await read_or_none(core.read_namespaced_persistent_volume_claim("metrics-sink-data", namespace)) is not None

    # Deleting the namespace takes the sink with it.
    await core.delete_namespace(namespace)

    async def sink_gone() -> bool:
        deployment = await read_or_none(apps.read_namespaced_deployment("metrics-sink", namespace))
        service = await read_or_none(core.read_namespaced_service("metrics-sink", namespace))
        secret = await read_or_none(core.read_namespaced_secret("metrics-sink-token", namespace))
        return deployment is None and service is None and secret is None

    await wait_until(sink_gone, timeout=TIMEOUT, what="deletion of the sink Deployment, Service and Secret")
    # NOTE: the PVC keeps its kubernetes.io/pvc-protection finalizer until the
    # pvc-protection controller removes it; where that controller does not run,
    # the claim (and so the namespace) stays Terminating, so only the deletion mark is checked.
    claim = await read_or_none(core.read_namespaced_persistent_volume_claim("metrics-sink-data", namespace))
    assert claim is None or claim.metadata.deletion_timestamp is not None


async def _phase_is(custom, namespace: str, name: str, phase: str) -> bool:
    return await phase_of(custom, namespace, name) == phase
