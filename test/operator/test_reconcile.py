"""The operator subprocess turns MetricSets into JobSets, sink objects and status on the real control plane."""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client
from operator_helpers import condition, create_metricset, example, metricset, read_metricset, read_or_none, wait_until

JOBSET_API = ("jobset.x-k8s.io", "v1alpha2")
TIMEOUT = 60
# How long the steady-state test watches the write counter.
STEADY_SECONDS = 10.0


async def read_jobset(api_client: client.ApiClient, namespace: str, name: str) -> dict | None:
    objects = client.CustomObjectsApi(api_client)
    return await read_or_none(objects.get_namespaced_custom_object(*JOBSET_API, namespace, "jobsets", name))


async def sink_objects(api_client: client.ApiClient, namespace: str) -> dict[str, object]:
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    return {
        "Deployment": await read_or_none(apps.read_namespaced_deployment("metrics-sink", namespace)),
        "Service": await read_or_none(core.read_namespaced_service("metrics-sink", namespace)),
        "PersistentVolumeClaim": await read_or_none(core.read_namespaced_persistent_volume_claim("metrics-sink-data", namespace)),
        "Secret": await read_or_none(core.read_namespaced_secret("metrics-sink-token", namespace)),
    }


async def test_application_example_creates_jobset_sink_status(api_client, custom, namespace: str, operator) -> None:
    document = example("cpu-memory.yaml")
    name = document["metadata"]["name"]
    created = await create_metricset(custom, namespace, document)

    jobset = await wait_until(lambda: read_jobset(api_client, namespace, name), timeout=TIMEOUT, what=f"JobSet {name}")
    owner = jobset["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "MetricSet"
    assert owner["uid"] == created["metadata"]["uid"]
    assert owner["controller"] is True
    pod = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["shareProcessNamespace"] is True

    objects = await wait_until(
        lambda: _all_present(sink_objects(api_client, namespace)), timeout=TIMEOUT, what="sink Deployment, Service, PVC, Secret"
    )
    namespace_uid = (await client.CoreV1Api(api_client).read_namespace(namespace)).metadata.uid
    for kind, obj in objects.items():
        references = obj.metadata.owner_references
        assert [(ref.kind, ref.uid) for ref in references] == [("Namespace", namespace_uid)], kind
    deployment = objects["Deployment"]
    assert deployment.spec.strategy.type == "Recreate"
    assert deployment.spec.template.spec.security_context.run_as_non_root is True

    status = await wait_until(
        lambda: _status_with_phase(custom, namespace, name), timeout=TIMEOUT, what=f"status.phase of MetricSet {name}"
    )
    assert status["jobSetName"] == name
    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert status["phase"] in ("Pending", "Running", "Succeeded")


async def _all_present(read) -> dict | None:
    objects = await read
    return objects if all(obj is not None for obj in objects.values()) else None


async def _status_with_phase(custom, namespace: str, name: str) -> dict | None:
    status = (await read_metricset(custom, namespace, name)).get("status") or {}
    return status if status.get("phase") else None


async def test_standalone_example_shares_headless_service(api_client, custom, namespace: str, operator) -> None:
    names = []
    for index in (0, 1):
        document = example("network-iperf3.yaml", index)
        names.append(document["metadata"]["name"])
        await create_metricset(custom, namespace, document)

    for name in names:
        jobset = await wait_until(lambda: read_jobset(api_client, namespace, name), timeout=TIMEOUT, what=f"JobSet {name}")
        assert jobset["spec"]["network"]["subdomain"] == "ms"
        labels = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["metadata"]["labels"]
        assert labels["metrics-operator.io/service"] == "ms"

    service = await client.CoreV1Api(api_client).read_namespaced_service("ms", namespace)
    assert service.spec.cluster_ip == "None"
    assert service.spec.selector == {"metrics-operator.io/service": "ms", "app.kubernetes.io/managed-by": "metrics-operator"}


async def _phase_is(custom, namespace: str, name: str, phase: str) -> bool:
    status = (await read_metricset(custom, namespace, name)).get("status") or {}
    return status.get("phase") == phase


async def test_missing_pvc_waits_then_runs(api_client, custom, namespace: str, operator) -> None:
    document = example("storage-fio-pvc.yaml")
    name = document["metadata"]["name"]
    await create_metricset(custom, namespace, document)

    async def storage_condition():
        return condition(await read_metricset(custom, namespace, name), "StorageAvailable")

    waiting = await wait_until(storage_condition, timeout=TIMEOUT, what="condition StorageAvailable")
    assert waiting["status"] == "False"
    assert waiting["reason"] == "StorageNotFound"
    assert "scratch" in waiting["message"]
    assert (await read_metricset(custom, namespace, name))["status"]["phase"] == "Pending"
    assert await read_jobset(api_client, namespace, name) is None

    claim = client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="scratch"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"})
        ),
    )
    await client.CoreV1Api(api_client).create_namespaced_persistent_volume_claim(namespace, claim)

    jobset = await wait_until(lambda: read_jobset(api_client, namespace, name), timeout=TIMEOUT, what=f"JobSet {name} after the PVC")
    volumes = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "metrics-operator-storage", "persistentVolumeClaim": {"claimName": "scratch", "readOnly": False}} in volumes
    found = await storage_condition()
    assert found["status"] == "True"


async def test_invalid_options_marked_invalid(api_client, custom, namespace: str, operator) -> None:
    body = example("storage-fio.yaml")
    body["metadata"]["name"] = "bad-options"
    body["spec"]["metrics"][0]["options"]["iodepth"] = 0
    body["spec"]["metrics"][0]["options"]["blocksize"] = "4k"
    await create_metricset(custom, namespace, body)

    async def invalid():
        return condition(await read_metricset(custom, namespace, "bad-options"), "Invalid")

    found = await wait_until(invalid, timeout=TIMEOUT, what="condition Invalid")
    assert found["status"] == "True"
    assert "spec.metrics[0].options" in found["message"]
    assert (await read_metricset(custom, namespace, "bad-options"))["status"]["phase"] == "Failed"
    assert await read_jobset(api_client, namespace, "bad-options") is None


async def test_sink_disabled_creates_no_sink(api_client, custom, namespace: str, operator) -> None:
    await create_metricset(custom, namespace, metricset("no-sink", sink={"enabled": False}))
    await wait_until(lambda: read_jobset(api_client, namespace, "no-sink"), timeout=TIMEOUT, what="JobSet no-sink")
    objects = await sink_objects(api_client, namespace)
    assert all(obj is None for obj in objects.values()), objects


async def test_steady_state_makes_no_writes(api_client, custom, namespace: str, operator) -> None:
    for index in range(3):
        await create_metricset(custom, namespace, metricset(f"steady-{index}"))
    # KWOK finishes the pods at once, so Succeeded is the state that stops changing.
    for index in range(3):
        await wait_until(
            lambda: _phase_is(custom, namespace, f"steady-{index}", "Succeeded"), timeout=TIMEOUT, what=f"steady-{index} Succeeded"
        )
    # Let pending watch events (status patches, Deployment status) drain through the queue.
    await asyncio.sleep(3)

    before = await operator.writes_except_leases()
    await asyncio.sleep(STEADY_SECONDS)
    after = await operator.writes_except_leases()

    assert before > 0, "the operator should have written while creating the objects"
    assert after == before, f"{after - before:.0f} write requests in {STEADY_SECONDS:.0f} s with nothing changing"


async def test_deleted_jobset_is_not_recreated(api_client, custom, namespace: str, operator) -> None:
    # A long KWOK delay keeps the run going while its JobSet is deleted.
    annotations = {"pod-complete.stage.kwok.x-k8s.io/delay": "300s", "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "300s"}
    await create_metricset(custom, namespace, metricset("orphaned", annotations=annotations))
    await wait_until(lambda: _status_with_phase(custom, namespace, "orphaned"), timeout=TIMEOUT, what="status of orphaned")

    objects = client.CustomObjectsApi(api_client)
    await objects.delete_namespaced_custom_object(*JOBSET_API, namespace, "jobsets", "orphaned")

    async def deleted_condition():
        found = condition(await read_metricset(custom, namespace, "orphaned"), "Failed")
        return found if found and found["reason"] == "JobSetDeleted" else None

    found = await wait_until(deleted_condition, timeout=TIMEOUT, what="condition Failed with reason JobSetDeleted")
    assert "create a new MetricSet" in found["message"]
    await asyncio.sleep(2)
    assert await read_jobset(api_client, namespace, "orphaned") is None
    assert (await read_metricset(custom, namespace, "orphaned"))["status"]["phase"] == "Failed"
