"""Fixtures for operator tests: the CRD installed, and real `metrics-operator controller` subprocesses.

Each test's operator watches only the test's namespace, so tests that run at the
same time, and other suites on the same control plane, do not see each other's
MetricSets.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client
from operator_helpers import OperatorProcess, REPO_DIR, wait_until

CRD_FILE = REPO_DIR / "config" / "crd" / "metricsets.yaml"
CRD_NAME = "metricsets.metrics-operator.io"


@pytest.fixture(scope="session")
def crd(cluster) -> str:
    """Install (or update) the MetricSet CRD and wait until the apiserver serves it."""
    kubectl = str(cluster.bin_dir / "kubectl")
    kubeconfig = f"--kubeconfig={cluster.kubeconfig}"
    subprocess.run([kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE)], check=True, capture_output=True)
    subprocess.run(
        [kubectl, kubeconfig, "wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s"],
        check=True,
        capture_output=True,
    )
    return CRD_NAME


@pytest.fixture
async def custom(api_client: client.ApiClient, crd: str) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def start_operator(kubeconfig: Path, crd: str, namespace: str, tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:
    """Return a function that starts a controller subprocess for the test's namespace; all are stopped afterwards."""
    started: list[OperatorProcess] = []

    def start(*extra: str, watch_namespace: str | None = namespace, env: dict[str, str] | None = None) -> OperatorProcess:
        log_path = tmp_path / f"operator-{len(started)}.log"
        process = OperatorProcess.start(kubeconfig, log_path, watch_namespace, list(extra), env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
async def operator(start_operator) -> AsyncIterator[OperatorProcess]:
    """One running controller for the test's namespace, ready (caches synced)."""
    process = start_operator()
    await wait_until(process.ready, timeout=60, what="operator /readyz")
    yield process
