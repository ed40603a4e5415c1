"""Informer recovery on the real apiserver: an expired watch (410 Gone) relists and misses no change."""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client
from operator_helpers import create_metricset, metricset, wait_until

from metrics_operator.api.metricset import GROUP, PLURAL, VERSION
from metrics_operator.controller.resources import METRICSETS
from metrics_operator.controller.runtime.informer import Informer
from metrics_operator.controller.runtime.kube import KubeClient
from metrics_operator.controller.runtime.metrics import ControllerMetrics

TIMEOUT = 30
# Older than anything in the apiserver's watch cache, so a watch from it gets 410 Gone.
STALE_RESOURCE_VERSION = "1"


async def test_stale_resource_version_relists(api_client: client.ApiClient, custom, namespace: str) -> None:
    informer = Informer(KubeClient(api_client, ControllerMetrics()), METRICSETS, namespace=namespace)
    seen: list[tuple[str, str]] = []
    informer.add_handler(lambda event_type, obj: seen.append((event_type, obj["metadata"]["name"])))
    await create_metricset(custom, namespace, metricset("before"))

    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), TIMEOUT)
        assert informer.get(namespace, "before") is not None
        assert informer.relists == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # While the informer is stopped, one object is added and one deleted.
    await create_metricset(custom, namespace, metricset("meanwhile"))
    await custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "before")
    informer.resource_version = STALE_RESOURCE_VERSION

    task = asyncio.create_task(informer.run())
    try:
        await wait_until(lambda: _has(informer, namespace, "meanwhile"), timeout=TIMEOUT, what="the change made while the watch was down")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert informer.relists == 2, "the 410 Gone must lead to a second list"
    assert informer.get(namespace, "before") is None
    assert ("DELETED", "before") in seen
    assert ("ADDED", "meanwhile") in seen


async def test_watch_resumes_after_server_timeout(api_client: client.ApiClient, custom, namespace: str) -> None:
    # A 1-second server timeout ends each watch quickly; the informer must resume, not relist.
    informer = Informer(KubeClient(api_client, ControllerMetrics()), METRICSETS, namespace=namespace, watch_timeout_seconds=1)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), TIMEOUT)
        await asyncio.sleep(2.5)
        await create_metricset(custom, namespace, metricset("after-timeouts"))
        await wait_until(lambda: _has(informer, namespace, "after-timeouts"), timeout=TIMEOUT, what="object created after watch timeouts")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert informer.relists == 1


async def _has(informer: Informer, namespace: str, name: str) -> bool:
    return informer.get(namespace, name) is not None
