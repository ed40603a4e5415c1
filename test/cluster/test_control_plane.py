"""The control plane itself: pinned versions and the KWOK nodes pods land on."""

from __future__ import annotations

import pytest
from controlplane.layout import Versions
from kubernetes_asyncio import client

pytestmark = pytest.mark.cluster


async def test_apiserver_reports_pinned_version(api_client: client.ApiClient) -> None:
    info = await client.VersionApi(api_client).get_code()

    # The version is stamped at link time; without it the server reports v0.0.0-master.
    expected = Versions.from_wrapper_modules().kubernetes
    assert info.git_version == expected
    assert f"v{info.major}.{info.minor}" == ".".join(expected.split(".")[:2])


async def test_kwok_nodes_ready_and_schedulable(api_client: client.ApiClient) -> None:
    nodes = (await client.CoreV1Api(api_client).list_node(label_selector="type=kwok")).items

    assert nodes, "no node labelled type=kwok"
    for node in nodes:
        ready = [c.status for c in node.status.conditions or [] if c.type == "Ready"]
        assert ready == ["True"], node.metadata.name
        assert not node.spec.taints, f"{node.metadata.name} taints: {node.spec.taints}"
        # The apiserver stores the quantity 10000 in its canonical form, 10k.
        assert node.status.allocatable["pods"] == "10k", node.metadata.name
