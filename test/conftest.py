"""Fixtures for tests that run against the local control plane from hack/cluster.

The `cluster` fixture (session scope) reuses a control plane that
`hack/cluster up` already started (found through its run folder, by default
~/.cache/metrics-operator/run or $METRICS_OPERATOR_CLUSTER_DIR) or starts one
and stops it when the session ends. When the control plane cannot start,
every test that uses it fails with the reason; none is skipped.

Tests that use the cluster are given the `cluster` marker automatically, so
`pytest -m "not cluster"` runs the unit tests alone.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

REPO_DIR = Path(__file__).resolve().parent.parent
CLUSTER_SCRIPT = REPO_DIR / "hack" / "cluster"
sys.path.insert(0, str(REPO_DIR / "hack"))
from controlplane.layout import load_state, run_dir  # noqa: E402

# Set to 1 to leave a control plane started by the test session running afterwards.
KEEP_CLUSTER_ENV = "METRICS_OPERATOR_KEEP_CLUSTER"
# Label on every namespace made by the `namespace` fixture, to find leftovers.
TEST_NAMESPACE_LABEL = "metrics-operator.test/namespace"
# Time for the serviceaccount controller to create a namespace's "default"
# ServiceAccount, which the ServiceAccount admission plugin needs before pods.
SERVICE_ACCOUNT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    bin_dir: Path
    run_dir: Path


def _cluster_command(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLUSTER_SCRIPT), command], capture_output=True, text=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The running control plane; started here unless `hack/cluster up` already runs one."""
    started_here = False
    if _cluster_command("status").returncode != 0:
        # NOTE: with a cold cache `up` builds everything first (about ten
        # minutes or more), which exceeds the per-test timeout. Run
        # `hack/cluster up` or `hack/cluster build` before pytest then.
        result = _cluster_command("up")
        if result.returncode != 0:
            pytest.fail(
                f"hack/cluster up failed with exit code {result.returncode}; last output:\n"
                + "\n".join(result.stderr.splitlines()[-40:]),
                pytrace=False,
            )
        started_here = True

    state = load_state(run_dir())
    if state is None:
        pytest.fail(f"hack/cluster up succeeded but wrote no state in {run_dir()}", pytrace=False)
    yield Cluster(kubeconfig=Path(state["kubeconfig"]), bin_dir=Path(state["bin_dir"]), run_dir=run_dir())

    if started_here and os.environ.get(KEEP_CLUSTER_ENV) != "1":
        result = _cluster_command("down")
        if result.returncode != 0:
            print(f"hack/cluster down failed with exit code {result.returncode}:\n{result.stderr}", file=sys.stderr)


@pytest.fixture(scope="session")
def kubeconfig(cluster: Cluster) -> Path:
    """Path of the admin kubeconfig (client certificate in system:masters)."""
    return cluster.kubeconfig


@pytest.fixture(scope="session")
async def api_client(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    """A kubernetes_asyncio ApiClient for the admin user, shared by the whole session."""
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        yield api


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{slug}-{secrets.token_hex(3)}"


@pytest.fixture
async def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Name of a fresh namespace for one test, deleted (without waiting) afterwards."""
    core = client.CoreV1Api(api_client)
    name = _namespace_name(request.node.name)
    await core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"}))
    )

    deadline = asyncio.get_running_loop().time() + SERVICE_ACCOUNT_TIMEOUT
    while True:
        try:
            await core.read_namespaced_service_account("default", name)
            break
        except ApiException as error:
            if error.status != 404:
                raise
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(
                f"namespace {name}: no default ServiceAccount after {SERVICE_ACCOUNT_TIMEOUT:.0f} s; "
                "is the serviceaccount controller of kube-controller-manager running?",
                pytrace=False,
            )
        await asyncio.sleep(0.2)

    yield name

    try:
        await core.delete_namespace(name, propagation_policy="Background")
    except ApiException as error:
        if error.status != 404:
            raise
