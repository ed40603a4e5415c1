"""The writes the operator makes for a new MetricSet, made without the operator, for the ceiling and the kopf peer.

bench/reconcile.py's plain-client ceiling and bench/kopf_peer.py both make exactly
these: the JobSet (built by the operator's own ``build_jobset``), a status patch to
Pending, and one Normal Event, the three writes the operator makes per MetricSet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client

from metrics_operator.api.metricset import GROUP, KIND, PLURAL, VERSION, MetricSet
from metrics_operator.controller.config import load_config
from metrics_operator.controller.jobset import build_jobset

JOBSET_API = ("jobset.x-k8s.io", "v1alpha2")
OPERATOR_CONFIG = load_config(None)


def pending_event(metadata: dict[str, Any], component: str) -> dict[str, Any]:
    """Return the Event the operator records when a MetricSet becomes Pending."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
        },
        "reason": "Pending",
        "message": "waiting for the pods to start",
        "type": "Normal",
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


async def create_jobset(api_client: client.ApiClient, raw: dict[str, Any]) -> None:
    """Create the JobSet the operator would create for the MetricSet ``raw``; one that exists already is kept."""
    jobset = build_jobset(MetricSet.model_validate({**raw, "status": None}), raw, OPERATOR_CONFIG)
    try:
        await client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            *JOBSET_API, raw["metadata"]["namespace"], "jobsets", jobset
        )
    except client.ApiException as error:
        # A retry after a lost response finds the JobSet already there.
        if error.status != 409:
            raise


async def patch_pending(api_client: client.ApiClient, metadata: dict[str, Any]) -> None:
    await client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
        GROUP, VERSION, metadata["namespace"], PLURAL, metadata["name"], {"status": {"phase": "Pending"}},
        _content_type="application/merge-patch+json",
    )


async def record_pending_event(api_client: client.ApiClient, metadata: dict[str, Any], component: str) -> None:
    await client.CoreV1Api(api_client).create_namespaced_event(metadata["namespace"], pending_event(metadata, component))
