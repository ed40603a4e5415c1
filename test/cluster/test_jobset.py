"""JobSet on the local control plane: its controller, its webhooks and KWOK-run pods.

Pods are bound by kube-scheduler to the KWOK nodes and taken through their
lifecycle by KWOK's stages; Jobs are driven by kube-controller-manager.
"""

from __future__ import annotations

import json

import pytest
from cluster_helpers import wait_for
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

pytestmark = pytest.mark.cluster

GROUP = "jobset.x-k8s.io"
VERSION = "v1alpha2"
PLURAL = "jobsets"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
# KWOK's chaos stage fails a running pod that carries this label set to "true".
POD_FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
TIMEOUT = 120.0


def job_template(replicas: int, parallelism: int, pod_labels: dict[str, str] | None = None) -> dict:
    return {
        "replicas": replicas,
        "template": {
            "spec": {
                "parallelism": parallelism,
                "completions": parallelism,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": pod_labels or {}},
                    "spec": {
                        "restartPolicy": "Never",
                        # KWOK never pulls or runs the image; the name only has to be valid.
                        "containers": [{"name": "main", "image": "example.invalid/idle:1"}],
                    },
                },
            }
        },
    }


def jobset_manifest(name: str, worker_pod_labels: dict[str, str] | None = None) -> dict:
    """A JobSet with two replicated Jobs: one leader Job and two worker Jobs of two pods each."""
    leader = {"name": "leader", **job_template(replicas=1, parallelism=1)}
    workers = {"name": "workers", **job_template(replicas=2, parallelism=2, pod_labels=worker_pod_labels)}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "JobSet",
        "metadata": {"name": name},
        "spec": {"replicatedJobs": [leader, workers]},
    }


def condition_status(jobset: dict, condition_type: str) -> str | None:
    for condition in jobset.get("status", {}).get("conditions", []):
        if condition["type"] == condition_type:
            return condition["status"]
    return None


async def wait_for_condition(
    custom: client.CustomObjectsApi, namespace: str, name: str, condition_type: str
) -> dict:
    return await wait_for(
        lambda: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
        lambda jobset: condition_status(jobset, condition_type) == "True",
        timeout=TIMEOUT,
        what=f"JobSet {namespace}/{name} condition {condition_type}=True",
    )


async def jobset_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    pods = await core.list_namespaced_pod(namespace, label_selector=f"{JOBSET_NAME_LABEL}={name}")
    return pods.items


async def test_jobset_completes(api_client: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    batch = client.BatchV1Api(api_client)
    await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, jobset_manifest("complete"))

    jobset = await wait_for_condition(custom, namespace, "complete", "Completed")

    assert condition_status(jobset, "Failed") != "True"
    jobs = (await batch.list_namespaced_job(namespace, label_selector=f"{JOBSET_NAME_LABEL}=complete")).items
    assert sorted(job.metadata.name for job in jobs) == ["complete-leader-0", "complete-workers-0", "complete-workers-1"]
    for job in jobs:
        assert job.status.succeeded == job.spec.completions, job.metadata.name
    pods = await jobset_pods(core, namespace, "complete")
    assert len(pods) == 5
    for pod in pods:
        assert pod.spec.node_name is not None and pod.spec.node_name.startswith("kwok-node-"), pod.metadata.name
        assert pod.status.phase == "Succeeded", pod.metadata.name


async def test_jobset_fails_when_pod_fails(api_client: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    manifest = jobset_manifest("failing", worker_pod_labels={POD_FAIL_LABEL: "true"})
    await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)

    jobset = await wait_for_condition(custom, namespace, "failing", "Failed")

    assert condition_status(jobset, "Completed") != "True"
    pods = await jobset_pods(core, namespace, "failing")
    failed = [pod.metadata.name for pod in pods if pod.status.phase == "Failed"]
    assert failed, f"no pod of JobSet failing reached phase Failed: {[(p.metadata.name, p.status.phase) for p in pods]}"
    for pod in pods:
        if pod.status.phase == "Failed":
            assert pod.metadata.labels.get(POD_FAIL_LABEL) == "true", pod.metadata.name


async def test_webhook_rejects_invalid_jobset(api_client: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api_client)
    manifest = jobset_manifest("invalid")
    # The CRD schema cannot check that a success policy names an existing
    # replicated Job, so only the validating webhook rejects this.
    manifest["spec"]["successPolicy"] = {"operator": "All", "targetReplicatedJobs": ["missing"]}

    with pytest.raises(ApiException) as raised:
        await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)

    assert raised.value.status == 403
    message = json.loads(raised.value.body)["message"]
    assert 'admission webhook "vjobset.kb.io" denied the request' in message
    assert "invalid replicatedJob name 'missing' does not appear in .spec.ReplicatedJobs" in message
    with pytest.raises(ApiException) as not_found:
        await custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "invalid")
    assert not_found.value.status == 404


async def test_mutating_webhook_defaults_jobset(api_client: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api_client)
    manifest = jobset_manifest("defaulted")
    manifest["spec"]["failurePolicy"] = {"maxRestarts": 0, "rules": [{"action": "FailJobSet"}]}

    created = await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)

    # Rule names depend on the rule's position, so only the mutating webhook
    # (not the CRD schema defaults) can fill them in.
    assert created["spec"]["failurePolicy"]["rules"][0]["name"] == "failurePolicyRule0"
    assert created["spec"]["successPolicy"]["operator"] == "All"
    for replicated_job in created["spec"]["replicatedJobs"]:
        assert replicated_job["template"]["spec"]["completionMode"] == "Indexed", replicated_job["name"]
