"""The per-namespace sink: a Deployment, Service, PVC and token Secret named metrics-sink*.

They belong to the Namespace (ownerReference on the Namespace object), not to any
MetricSet: deleting a MetricSet keeps the results, and deleting the namespace
removes everything. ``ensure_sink`` creates what is missing and updates the
Deployment when the operator's sink settings change; it never rewrites the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any, Protocol

from metrics_operator.controller.config import OperatorConfig
from metrics_operator.controller.resources import (
    COMPONENT_LABEL,
    DEPLOYMENTS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAMESPACES,
    PVCS,
    SECRETS,
    SERVICES,
    namespace_owner,
)
from metrics_operator.controller.runtime.logcontext import get_logger
from metrics_operator.controller.runtime.errors import ApiError, TemporaryError
from metrics_operator.controller.runtime.kube import KubeClient, Resource

log = get_logger(__name__)

SINK_NAME = "metrics-sink"
SINK_DATA_CLAIM = "metrics-sink-data"
SINK_TOKEN_SECRET = "metrics-sink-token"
SINK_TOKEN_KEY = "token"
DATA_PATH = "/data"
TOKEN_DIR = "/var/run/metrics-operator"
CONFIG_HASH_ANNOTATION = "metrics-operator.io/config-hash"
# The uid of the user in sink/Dockerfile; fsGroup makes the PVC writable for it.
SINK_USER_ID = 10001


class Cache(Protocol):
    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None: ...


def sink_url(namespace: str, config: OperatorConfig) -> str:
    """Return the in-cluster URL of a namespace's sink Service."""
    return f"http://{SINK_NAME}.{namespace}.svc:{config.sink.port}"


def _labels() -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "sink", "app.kubernetes.io/name": SINK_NAME}


def _selector() -> dict[str, str]:
    return {"app.kubernetes.io/name": SINK_NAME, MANAGED_BY_LABEL: MANAGED_BY}


def _metadata(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace["metadata"]["name"],
        "labels": _labels(),
        "ownerReferences": [namespace_owner(namespace)],
    }


def build_token_secret(namespace: dict[str, Any]) -> dict[str, Any]:
    """Return the Secret with a fresh random bearer token for the sink."""
    token = secrets.token_urlsafe(32)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(SINK_TOKEN_SECRET, namespace),
        "type": "Opaque",
        "data": {SINK_TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def build_data_claim(namespace: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": config.sink.storage_size}},
    }
    if config.sink.storage_class:
        spec["storageClassName"] = config.sink.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _metadata(SINK_DATA_CLAIM, namespace), "spec": spec}


def build_service(namespace: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    port = {"name": "http", "port": config.sink.port, "targetPort": "http", "protocol": "TCP"}
    spec = {"selector": _selector(), "ports": [port]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(SINK_NAME, namespace), "spec": spec}


def _sink_container(config: OperatorConfig) -> dict[str, Any]:
    port = config.sink.port
    command = [
        "metrics-operator",
        "sink",
        "--db",
        f"{DATA_PATH}/metrics.duckdb",
        # The sink must accept connections from metric pods, so it listens on the pod's addresses.
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--token-file",
        f"{TOKEN_DIR}/{SINK_TOKEN_KEY}",
    ]
    return {
        "name": "sink",
        "image": config.sink.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": command,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": {"requests": {"cpu": config.sink.cpu_request, "memory": config.sink.memory_request}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_PATH},
            {"name": "token", "mountPath": TOKEN_DIR, "readOnly": True},
        ],
    }


def build_deployment(namespace: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    """Return the sink Deployment: one replica, recreated (never two writers on one DuckDB file)."""
    pod_spec = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SINK_USER_ID,
            "runAsGroup": SINK_USER_ID,
            "fsGroup": SINK_USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_sink_container(config)],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": SINK_DATA_CLAIM}},
            {"name": "token", "secret": {"secretName": SINK_TOKEN_SECRET}},
        ],
    }
    spec = {
        "replicas": 1,
        "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": _selector()},
        "template": {"metadata": {"labels": _labels()}, "spec": pod_spec},
    }
    metadata = _metadata(SINK_NAME, namespace)
    metadata["annotations"] = {CONFIG_HASH_ANNOTATION: _hash(spec)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


async def _create(kube: KubeClient, resource: Resource, body: dict[str, Any]) -> None:
    namespace = body["metadata"]["namespace"]
    name = body["metadata"]["name"]
    try:
        await kube.create(resource, namespace, body)
        log.info("created %s %s/%s", resource.kind, namespace, name)
    except ApiError as error:
        # The cache was behind and another pass created it first.
        if error.status != 409:
            raise
        log.debug("%s %s/%s exists already", resource.kind, namespace, name)


async def ensure_sink(
    kube: KubeClient,
    caches: dict[str, Cache],
    namespace_name: str,
    config: OperatorConfig,
) -> None:
    """Create the namespace's sink objects that are missing, and update a Deployment built from older settings."""
    required = [
        (SECRETS, SINK_TOKEN_SECRET),
        (PVCS, SINK_DATA_CLAIM),
        (SERVICES, SINK_NAME),
        (DEPLOYMENTS, SINK_NAME),
    ]
    missing = [(resource, name) for resource, name in required if caches[resource.kind].get(namespace_name, name) is None]
    deployment = caches[DEPLOYMENTS.kind].get(namespace_name, SINK_NAME)
    if not missing and deployment is not None:
        current_hash = deployment["metadata"].get("annotations", {}).get(CONFIG_HASH_ANNOTATION)
        desired = build_deployment({"metadata": {"name": namespace_name, "uid": ""}}, config)
        if current_hash == desired["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]:
            return

    try:
        namespace = await kube.get(NAMESPACES, None, namespace_name)
    except ApiError as error:
        raise TemporaryError(f"cannot read namespace {namespace_name}: {error}") from error
    if namespace["metadata"].get("deletionTimestamp"):
        # Creating objects in a terminating namespace is rejected; the namespace takes them all anyway.
        return

    builders = {
        SECRETS.kind: lambda: build_token_secret(namespace),
        PVCS.kind: lambda: build_data_claim(namespace, config),
        SERVICES.kind: lambda: build_service(namespace, config),
        DEPLOYMENTS.kind: lambda: build_deployment(namespace, config),
    }
    for resource, _ in missing:
        await _create(kube, resource, builders[resource.kind]())

    if deployment is not None and (DEPLOYMENTS, SINK_NAME) not in missing:
        desired = build_deployment(namespace, config)
        patch = {"metadata": {"annotations": desired["metadata"]["annotations"]}, "spec": desired["spec"]}
        await kube.patch(DEPLOYMENTS, namespace_name, SINK_NAME, patch)
        log.info("updated Deployment %s/%s to the current sink settings", namespace_name, SINK_NAME)
