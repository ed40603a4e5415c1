"""A minimal kopf operator that makes the operator's writes for a new MetricSet, for bench/reconcile.py.

On creation of a MetricSet it creates the same JobSet, patches status.phase to Pending
and records one Event, with bench/peer_writes.py. At most ``BENCH_WORKERS`` objects
are handled at a time, the operator's worker count. Run it with
``kopf run --standalone --namespace NS bench/kopf_peer.py``; it logs in with
$KUBECONFIG through kopf's own login handlers.

kopf's own Event posting is off, because the handler records the one Event the
operator records. kopf still stores its handler progress on each object, as any
kopf operator does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import kopf
from kubernetes_asyncio import client, config

# kopf loads this file by path, so its folder is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer_writes import create_jobset, patch_pending, record_pending_event  # noqa: E402

from metrics_operator.api.metricset import GROUP, PLURAL, VERSION  # noqa: E402

API_CLIENT: dict[str, client.ApiClient] = {}


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Limit concurrent objects like the operator's workers, and open the API client for the writes."""
    settings.batching.worker_limit = int(os.environ.get("BENCH_WORKERS", "4"))
    # kopf keeps each object's worker for idle_timeout (5 s by default) after its last event,
    # and a kept worker counts against worker_limit, which would cap kopf at 4 objects per 5 s.
    settings.batching.idle_timeout = 0.1
    settings.posting.enabled = False
    configuration = client.Configuration()
    await config.load_kube_config(client_configuration=configuration)
    API_CLIENT["client"] = client.ApiClient(configuration)


@kopf.on.cleanup()
async def close_client(**_: Any) -> None:
    await API_CLIENT["client"].close()


@kopf.on.create(GROUP, VERSION, PLURAL)
async def create_run(body: kopf.Body, **_: Any) -> None:
    """Create the MetricSet's JobSet, then patch its status to Pending and record the Event."""
    raw = {"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": dict(body["metadata"]), "spec": dict(body["spec"])}
    api_client = API_CLIENT["client"]
    await create_jobset(api_client, raw)
    await patch_pending(api_client, raw["metadata"])
    await record_pending_event(api_client, raw["metadata"], "kopf-peer")
