"""Install manifests: `kubectl apply -k config/default` works, and the RBAC rules match the requests the controller sends."""

from __future__ import annotations

import subprocess

import yaml
from kubernetes_asyncio import client
from operator_helpers import REPO_DIR, create_metricset, example, read_metricset, read_or_none, wait_until

RBAC_DIR = REPO_DIR / "config" / "rbac"
INSTALL_NAMESPACE = "metrics-operator-system"
# Granted but never sent by the controller itself: the OwnerReferencesPermissionEnforcement
# admission plugin checks it when the controller sets blockOwnerDeletion.
ADMISSION_ONLY = {("update", "metricsets/finalizers")}
TIMEOUT = 60


def role_permissions() -> set[tuple[str, str]]:
    """Return every (verb, resource) that the ClusterRole and the leader-election Role grant."""
    granted = set()
    for file in ("role.yaml", "leader_election_role.yaml"):
        for rule in yaml.safe_load((RBAC_DIR / file).read_text())["rules"]:
            granted |= {(verb, resource) for verb in rule["verbs"] for resource in rule["resources"]}
    return granted


def kubectl(cluster, *arguments: str) -> subprocess.CompletedProcess:
    command = [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


async def test_default_kustomization_installs(cluster, api_client, crd) -> None:
    applied = kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-k", str(REPO_DIR / "config" / "default"))
    try:
        assert applied.returncode == 0, applied.stderr
        apps = client.AppsV1Api(api_client)
        deployment = await apps.read_namespaced_deployment("metrics-operator", INSTALL_NAMESPACE)
        container = deployment.spec.template.spec.containers[0]
        assert deployment.spec.template.spec.security_context.run_as_non_root is True
        assert container.security_context.read_only_root_filesystem is True
        assert container.resources.requests == {"cpu": "100m", "memory": "128Mi"}
        assert "--leader-elect" in container.args
        config_map = await client.CoreV1Api(api_client).read_namespaced_config_map("metrics-operator-config", INSTALL_NAMESPACE)
        assert "image_registry" in config_map.data["config.yaml"]
    finally:
        # The CRD stays: deleting it would delete every MetricSet of the other tests.
        kubectl(cluster, "delete", "--wait=false", "--ignore-not-found", "namespace", INSTALL_NAMESPACE)
        kubectl(cluster, "delete", "--ignore-not-found", "clusterrole/metrics-operator", "clusterrolebinding/metrics-operator")


async def test_used_requests_match_role(api_client, custom, namespace: str, start_operator) -> None:
    lease = ["--leader-elect", "--lease-namespace", namespace]
    first = start_operator(*lease)
    await wait_until(first.ready, timeout=TIMEOUT, what="operator /readyz")
    document = example("cpu-memory.yaml")
    await create_metricset(custom, namespace, document)
    apps = client.AppsV1Api(api_client)
    await wait_until(
        lambda: read_or_none(apps.read_namespaced_deployment("metrics-sink", namespace)), timeout=TIMEOUT, what="sink Deployment"
    )
    await wait_until(lambda: _has_phase(custom, namespace, document["metadata"]["name"]), timeout=TIMEOUT, what="status phase")
    used = await first.used_requests()
    assert first.stop() == 0

    # New sink settings make the next operator patch the sink Deployment.
    second = start_operator(*lease, env={"MO_OPERATOR_SINK__CPU_REQUEST": "150m"})
    await wait_until(lambda: _sink_cpu(apps, namespace, "150m"), timeout=TIMEOUT, what="sink Deployment with cpu request 150m")
    used |= await second.used_requests()

    granted = role_permissions()
    assert used <= granted, f"requests the Role does not grant: {sorted(used - granted)}"
    assert granted - ADMISSION_ONLY == used, f"granted but never used: {sorted(granted - ADMISSION_ONLY - used)}"


async def _has_phase(custom, namespace: str, name: str) -> bool:
    return bool(((await read_metricset(custom, namespace, name)).get("status") or {}).get("phase"))


async def _sink_cpu(apps: client.AppsV1Api, namespace: str, cpu: str) -> bool:
    deployment = await apps.read_namespaced_deployment("metrics-sink", namespace)
    return deployment.spec.template.spec.containers[0].resources.requests.get("cpu") == cpu
