"""KWOK pod stages: the annotations and labels a test uses to shape a pod's life.

- pod-complete.stage.kwok.x-k8s.io/delay and .../jitter-delay (Go durations,
  set both) keep a Job's pod Running that long before it succeeds.
- The label pod-container-running-failed.stage.kwok.x-k8s.io=true makes a
  running pod fail with exit code 1.
"""

from __future__ import annotations

import asyncio

import pytest
from cluster_helpers import single_pod_job, wait_for
from kubernetes_asyncio import client

pytestmark = pytest.mark.cluster

TIMEOUT = 120.0
COMPLETE_DELAY_SECONDS = 15


async def job_pod_phases(core: client.CoreV1Api, namespace: str, job: str) -> list[str]:
    pods = await core.list_namespaced_pod(namespace, label_selector=f"job-name={job}")
    return [pod.status.phase for pod in pods.items]


async def test_complete_delay_keeps_pod_running(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    batch = client.BatchV1Api(api_client)
    delay = f"{COMPLETE_DELAY_SECONDS}s"
    annotations = {
        "pod-complete.stage.kwok.x-k8s.io/delay": delay,
        "pod-complete.stage.kwok.x-k8s.io/jitter-delay": delay,
    }
    await batch.create_namespaced_job(namespace, single_pod_job("slow", annotations=annotations))

    await wait_for(
        lambda: job_pod_phases(core, namespace, "slow"),
        lambda phases: phases == ["Running"],
        timeout=TIMEOUT,
        what=f"pod of Job {namespace}/slow Running",
    )
    running_since = asyncio.get_running_loop().time()
    await asyncio.sleep(COMPLETE_DELAY_SECONDS / 2)
    assert await job_pod_phases(core, namespace, "slow") == ["Running"]

    await wait_for(
        lambda: job_pod_phases(core, namespace, "slow"),
        lambda phases: phases == ["Succeeded"],
        timeout=TIMEOUT,
        what=f"pod of Job {namespace}/slow Succeeded",
    )
    # The delay counts from when the pod became Ready, slightly before it was seen Running here.
    assert asyncio.get_running_loop().time() - running_since >= COMPLETE_DELAY_SECONDS - 3


async def test_fail_label_fails_pod_and_job(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    batch = client.BatchV1Api(api_client)
    labels = {"pod-container-running-failed.stage.kwok.x-k8s.io": "true"}
    await batch.create_namespaced_job(namespace, single_pod_job("doomed", labels=labels))

    job = await wait_for(
        lambda: batch.read_namespaced_job("doomed", namespace),
        lambda job: any(c.type == "Failed" and c.status == "True" for c in job.status.conditions or []),
        timeout=TIMEOUT,
        what=f"Job {namespace}/doomed condition Failed=True",
    )

    assert job.status.failed == 1
    assert not job.status.succeeded
    pods = await core.list_namespaced_pod(namespace, label_selector="job-name=doomed")
    assert [pod.status.phase for pod in pods.items] == ["Failed"]
    terminated = pods.items[0].status.container_statuses[0].state.terminated
    assert terminated.exit_code == 1
