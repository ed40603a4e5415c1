"""A minimal kopf operator that does what metrics-operator does for a new MetricSet, for bench/reconcile.py.

On creation of a MetricSet it creates the same JobSet (built by the operator's own
``build_jobset``) and sets status.phase to Pending. Handlers run at most
``BENCH_WORKERS`` at a time, the operator's worker count. Run it with
``kopf run --standalone --namespace NS bench/kopf_peer.py``; it logs in with
$KUBECONFIG through kopf's own login handlers.

Event posting is off, because the benchmark's ceiling writes no Events; kopf still
stores its handler progress on each object, as any kopf operator does.
"""

from __future__ import annotations

import os
from typing import Any

import kopf
from kubernetes_asyncio import client, config

from metrics_operator.api.metricset import GROUP, PLURAL, VERSION, MetricSet
from metrics_operator.controller.config import load_config
from metrics_operator.controller.jobset import build_jobset

JOBSET_GROUP, JOBSET_VERSION = "jobset.x-k8s.io", "v1alpha2"
OPERATOR_CONFIG = load_config(None)
API: dict[str, client.CustomObjectsApi] = {}


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Limit concurrent handlers like the operator's workers, and open the API client for JobSets."""
    settings.batching.worker_limit = int(os.environ.get("BENCH_WORKERS", "4"))
    settings.posting.enabled = False
    configuration = client.Configuration()
    await config.load_kube_config(client_configuration=configuration)
    API["custom"] = client.CustomObjectsApi(client.ApiClient(configuration))


@kopf.on.create(GROUP, VERSION, PLURAL)
async def create_jobset(body: kopf.Body, namespace: str, patch: kopf.Patch, **_: Any) -> None:
    """Create the MetricSet's JobSet, then set the Pending phase (kopf sends the patch after the handler)."""
    raw = {"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": dict(body["metadata"]), "spec": dict(body["spec"])}
    metricset = MetricSet.model_validate(raw)
    jobset = build_jobset(metricset, raw, OPERATOR_CONFIG)
    try:
        await API["custom"].create_namespaced_custom_object(JOBSET_GROUP, JOBSET_VERSION, namespace, "jobsets", jobset)
    except client.ApiException as error:
        # A retry after a lost response finds the JobSet already there.
        if error.status != 409:
            raise
    patch.status["phase"] = "Pending"
