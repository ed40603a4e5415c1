"""The API resources the operator reads and writes, and the labels it puts on what it creates."""

from __future__ import annotations

from typing import Any

from metrics_operator.api.metricset import API_VERSION, GROUP, KIND, PLURAL, VERSION
from metrics_operator.controller.runtime.kube import Resource

METRICSETS = Resource(GROUP, VERSION, PLURAL, KIND)
JOBSETS = Resource("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
SERVICES = Resource("", "v1", "services", "Service")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
SECRETS = Resource("", "v1", "secrets", "Secret")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
EVENTS = Resource("", "v1", "events", "Event")

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "metrics-operator"
METRICSET_LABEL = f"{GROUP}/metricset"
COMPONENT_LABEL = "app.kubernetes.io/component"
# On pods: the headless Service (spec.serviceName) that gives them DNS names.
SERVICE_LABEL = f"{GROUP}/service"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


def metricset_owner(metricset: dict[str, Any]) -> dict[str, Any]:
    """Return the ownerReference that makes an object belong to (and be deleted with) a MetricSet."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": metricset["metadata"]["name"],
        "uid": metricset["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def namespace_owner(namespace: dict[str, Any]) -> dict[str, Any]:
    """Return the ownerReference that deletes an object with its Namespace.

    The garbage collector accepts a cluster-scoped owner of namespaced dependents.
    It is not the controller, because the MetricSets that asked for the object
    come and go while the object stays.
    """
    return {"apiVersion": "v1", "kind": "Namespace", "name": namespace["metadata"]["name"], "uid": namespace["metadata"]["uid"]}


def owner_uids(obj: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    """Return (name, uid) of each owner of ``kind`` in the object's ownerReferences."""
    references = obj.get("metadata", {}).get("ownerReferences") or []
    return [(reference["name"], reference["uid"]) for reference in references if reference.get("kind") == kind]
