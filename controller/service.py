"""The headless Service named ``spec.serviceName`` through which a MetricSet's pods reach each other.

JobSet would create this Service itself, selecting only its own pods, so a second
MetricSet with the same serviceName (the default is "ms") could not resolve its
pods. The operator creates the Service first, selecting the pods of every MetricSet
that names it; JobSet then finds it and leaves it alone. Pod host names start with
the MetricSet's name, so they stay unique. The Service belongs to the Namespace,
because several MetricSets may share it.
"""

from __future__ import annotations

from typing import Any

from metrics_operator.controller.resources import (
    COMPONENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAMESPACES,
    SERVICE_LABEL,
    SERVICES,
    namespace_owner,
)
from metrics_operator.controller.runtime.logcontext import get_logger
from metrics_operator.controller.runtime.errors import ApiError, TemporaryError
from metrics_operator.controller.runtime.kube import KubeClient
from metrics_operator.controller.sink import Cache

log = get_logger(__name__)


def build_headless_service(namespace: dict[str, Any], name: str) -> dict[str, Any]:
    """Return the headless Service that gives DNS names to the pods labelled with ``name``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace["metadata"]["name"],
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "pod-network"},
            "ownerReferences": [namespace_owner(namespace)],
        },
        "spec": {
            "clusterIP": "None",
            "selector": {SERVICE_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY},
            # Pods resolve each other while they start, before they are ready.
            "publishNotReadyAddresses": True,
        },
    }


async def ensure_headless_service(kube: KubeClient, services: Cache, namespace_name: str, name: str) -> None:
    """Create the headless Service ``name`` unless it exists (made by the operator or by anyone else)."""
    if services.get(namespace_name, name) is not None:
        return
    try:
        namespace = await kube.get(NAMESPACES, None, namespace_name)
        await kube.create(SERVICES, namespace_name, build_headless_service(namespace, name))
        log.info("created headless Service %s/%s", namespace_name, name)
    except ApiError as error:
        # 409: it exists but is not in the operator's cache, e.g. a Service of the user's.
        if error.is_conflict:
            return
        raise TemporaryError(f"cannot create headless Service {namespace_name}/{name}: {error}") from error
