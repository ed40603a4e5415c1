"""A small JSON client for the Kubernetes API on top of kubernetes-asyncio's ApiClient.

The generated typed APIs turn every object into model classes, which is slow for
informers and loses unknown fields. This client sends and returns plain dicts for
any resource described by a ``Resource``. The ApiClient still does authentication
and TLS. Every write request is counted in ``ControllerMetrics.api_writes_total``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from metrics_operator.controller.runtime.errors import ApiError
from metrics_operator.controller.runtime.metrics import ControllerMetrics

MERGE_PATCH = "application/merge-patch+json"
AUTH_SETTINGS = ["BearerToken"]


@dataclass(frozen=True)
class Resource:
    """An API resource: where it lives (group, version, plural) and its kind."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """Return the URL path of the collection, an object, or its subresource."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
        if subresource is not None:
            base += f"/{subresource}"
        return base


def object_key(obj: dict[str, Any]) -> str:
    """Return namespace/name (or name for cluster-scoped objects) of an object."""
    metadata = obj.get("metadata", {})
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else metadata["name"]


class KubeClient:
    """Plain-JSON requests to the apiserver; raises ApiError on any non-2xx status."""

    def __init__(self, api_client: client.ApiClient, metrics: ControllerMetrics):
        self.api_client = api_client
        self.metrics = metrics

    async def _request(
        self,
        verb: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        query_params = [(key, value) for key, value in (query or {}).items() if value is not None]
        try:
            response = await self.api_client.call_api(
                path,
                verb,
                query_params=query_params,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                auth_settings=AUTH_SETTINGS,
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiError(0, "ConnectionFailed", str(error) or type(error).__name__, verb=verb, path=path) from error
        if not 200 <= response.status <= 299:
            text = await response.text()
            response.release()
            raise ApiError.from_response(response.status, text, verb=verb, path=path)
        return response

    async def _json(self, verb: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._request(verb, path, **kwargs)
        try:
            return json.loads(await response.read())
        finally:
            response.release()

    def _count(self, verb: str, resource: Resource, subresource: str | None = None) -> None:
        """Count a request under its RBAC verb, so tests can compare what is used with the Role."""
        name = f"{resource.plural}/{subresource}" if subresource else resource.plural
        self.metrics.api_requests_total.labels(verb, name).inc()

    def _count_write(self, verb: str, resource: Resource, subresource: str | None = None) -> None:
        self._count(verb, resource, subresource)
        self.metrics.api_writes_total.labels(verb, resource.kind).inc()

    async def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        self._count("get", resource)
        return await self._json("GET", resource.path(namespace, name))

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        continue_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        self._count("list", resource)
        query = {"labelSelector": label_selector, "continue": continue_token, "limit": limit}
        return await self._json("GET", resource.path(namespace), query=query)

    async def watch(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events ({"type": ..., "object": ...}) until the server ends the stream."""
        self._count("watch", resource)
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "labelSelector": label_selector,
            "timeoutSeconds": timeout_seconds,
        }
        # The server closes the stream after timeoutSeconds; the read timeout only
        # catches a connection that went silent without closing.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30)
        response = await self._request("GET", resource.path(namespace), query=query, timeout=timeout)
        try:
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError) as error:
            # A dropped connection; the informer resumes from its last resourceVersion.
            path = resource.path(namespace)
            raise ApiError(0, "ConnectionFailed", str(error) or type(error).__name__, verb="WATCH", path=path) from error
        finally:
            response.release()

    async def create(self, resource: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        self._count_write("create", resource)
        return await self._json("POST", resource.path(namespace), body=body)

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._count_write("update", resource)
        return await self._json("PUT", resource.path(namespace, name), body=body)

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: dict[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Send a JSON merge patch (RFC 7386) to an object or its subresource."""
        self._count_write("patch", resource, subresource)
        return await self._json("PATCH", resource.path(namespace, name, subresource), body=body, content_type=MERGE_PATCH)

    async def delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        self._count_write("delete", resource)
        await self._json("DELETE", resource.path(namespace, name), body={"propagationPolicy": "Background"})
