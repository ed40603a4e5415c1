"""Garbage collection and namespace deletion by kube-controller-manager."""

from __future__ import annotations

import secrets

import pytest
from cluster_helpers import exists, single_pod_job, wait_for
from kubernetes_asyncio import client

pytestmark = pytest.mark.cluster

TIMEOUT = 120.0


async def test_dependent_deleted_with_owner(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    owner = await core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    reference = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    await core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference]))
    )

    await core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    await wait_for(
        lambda: exists(lambda: core.read_namespaced_config_map("dependent", namespace)),
        lambda present: not present,
        timeout=TIMEOUT,
        what=f"garbage collection of ConfigMap {namespace}/dependent",
    )


async def test_namespace_deletion_finishes(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    batch = client.BatchV1Api(api_client)
    name = f"t-namespace-deletion-{secrets.token_hex(3)}"
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        await wait_for(
            lambda: exists(lambda: core.read_namespaced_service_account("default", name)),
            lambda present: present,
            timeout=30.0,
            what=f"ServiceAccount {name}/default",
        )
        await core.create_namespaced_config_map(name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="data")))
        # An unbound claim still carries the kubernetes.io/pvc-protection
        # finalizer, which only kube-controller-manager removes.
        claim = client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="scratch"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
            ),
        )
        created_claim = await core.create_namespaced_persistent_volume_claim(name, claim)
        assert "kubernetes.io/pvc-protection" in (created_claim.metadata.finalizers or [])
        # A running Job leaves pods on the KWOK node, which KWOK must release
        # before the namespace can go away.
        job = single_pod_job(
            "runner",
            annotations={
                "pod-complete.stage.kwok.x-k8s.io/delay": "10m",
                "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "10m",
            },
        )
        await batch.create_namespaced_job(name, job)
        await wait_for(
            lambda: core.list_namespaced_pod(name),
            lambda pods: any(pod.status.phase == "Running" for pod in pods.items),
            timeout=TIMEOUT,
            what=f"a running pod in namespace {name}",
        )
    finally:
        await core.delete_namespace(name)

    await wait_for(
        lambda: exists(lambda: core.read_namespace(name)),
        lambda present: not present,
        timeout=TIMEOUT,
        what=f"deletion of namespace {name}",
    )
