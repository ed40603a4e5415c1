"""Helpers for the control plane tests: polling for a state and small object builders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

T = TypeVar("T")


async def wait_for(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
) -> T:
    """Call READ until DONE accepts its result and return that result.

    Raises AssertionError naming WHAT and the last result read when TIMEOUT
    seconds pass first.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(interval)


async def exists(read: Callable[[], Awaitable[object]]) -> bool:
    """Return False when READ fails with 404 Not Found, True when it succeeds."""
    try:
        await read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def single_pod_job(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> client.V1Job:
    """A Job with one pod and no retries, whose pod KWOK runs on a fake node."""
    pod = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels, annotations=annotations),
        spec=client.V1PodSpec(
            restart_policy="Never",
            # KWOK never pulls or runs the image; the name only has to be valid.
            containers=[client.V1Container(name="main", image="example.invalid/idle:1")],
            # KWOK deletes a terminating pod once its grace period ends.
            termination_grace_period_seconds=1,
        ),
    )
    return client.V1Job(metadata=client.V1ObjectMeta(name=name), spec=client.V1JobSpec(template=pod, backoff_limit=0))
