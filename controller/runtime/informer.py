"""An informer: a cache of one resource kind kept current by list and watch.

It lists the objects, then watches from the list's resourceVersion with bookmarks,
so the resourceVersion it resumes from stays recent even when nothing changes.
- A watch that ends (server timeout, dropped connection) resumes from the last
  resourceVersion seen, so no change is missed.
- A 410 Gone (the resourceVersion was compacted away) relists. Objects that
  vanished meanwhile are reported as deleted, so handlers see every change.
Handlers get (event type, object) and must be quick: the controller's only map
the object to work-queue keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from metrics_operator.controller.runtime.errors import ApiError
from metrics_operator.controller.runtime.kube import KubeClient, Resource, object_key

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]

LIST_PAGE_SIZE = 500
WATCH_TIMEOUT_SECONDS = 300
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class Informer:
    """Keeps ``cache`` (key -> object) of one resource in sync and calls handlers on each change."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        watch_timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
    ):
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.watch_timeout_seconds = watch_timeout_seconds
        self.cache: dict[str, dict[str, Any]] = {}
        self.resource_version: str | None = None
        self.handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self.relists = 0

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Return the cached object, or None; callers must not modify it."""
        return self.cache.get(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Return the cached objects, of one namespace if given."""
        if namespace is None:
            return list(self.cache.values())
        return [obj for obj in self.cache.values() if obj["metadata"].get("namespace") == namespace]

    def _notify(self, event_type: str, obj: dict[str, Any]) -> None:
        for handler in self.handlers:
            try:
                handler(event_type, obj)
            except Exception:
                # A handler bug must not stop the cache from following the apiserver.
                log.exception("%s handler failed on %s %s", self.resource.kind, event_type, object_key(obj))

    async def _relist(self) -> None:
        """List every object (in pages), replace the cache, and report what changed."""
        items: list[dict[str, Any]] = []
        continue_token = None
        while True:
            page = await self.kube.list(
                self.resource,
                self.namespace,
                label_selector=self.label_selector,
                continue_token=continue_token,
                limit=LIST_PAGE_SIZE,
            )
            items.extend(page.get("items") or [])
            continue_token = page["metadata"].get("continue")
            if not continue_token:
                break

        # A list response's items have no apiVersion and kind; handlers expect them.
        fresh = {}
        for item in items:
            item.setdefault("apiVersion", self.resource.api_version)
            item.setdefault("kind", self.resource.kind)
            fresh[object_key(item)] = item
        vanished = [obj for key, obj in self.cache.items() if key not in fresh]
        self.cache = fresh
        self.resource_version = page["metadata"]["resourceVersion"]
        self.relists += 1
        log.info("listed %d %s objects at resourceVersion %s", len(fresh), self.resource.kind, self.resource_version)

        for obj in vanished:
            self._notify("DELETED", obj)
        for obj in fresh.values():
            self._notify("ADDED", obj)

    def _apply(self, event: dict[str, Any]) -> None:
        event_type = event["type"]
        obj = event["object"]
        self.resource_version = obj["metadata"]["resourceVersion"]
        if event_type == "BOOKMARK":
            return
        key = object_key(obj)
        if event_type == "DELETED":
            self.cache.pop(key, None)
        else:
            self.cache[key] = obj
        self._notify(event_type, obj)

    async def _watch_once(self) -> None:
        """Follow one watch stream until it ends; raises ApiError(410) when the resourceVersion is too old."""
        stream = self.kube.watch(
            self.resource,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            timeout_seconds=self.watch_timeout_seconds,
        )
        async for event in stream:
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                raise ApiError(
                    int(status.get("code") or 0),
                    status.get("reason", ""),
                    status.get("message", ""),
                    verb="WATCH",
                    path=self.resource.path(self.namespace),
                )
            self._apply(event)

    async def run(self) -> None:
        """List (unless a resourceVersion is already set) and watch until cancelled."""
        retry_delay = RETRY_MIN_SECONDS
        while True:
            try:
                if self.resource_version is None:
                    await self._relist()
                    self.synced.set()
                await self._watch_once()
                retry_delay = RETRY_MIN_SECONDS
            except ApiError as error:
                if error.is_gone:
                    log.info("%s watch expired (%s); listing again", self.resource.kind, error.message)
                    self.resource_version = None
                    continue
                log.warning(
                    "%s list/watch failed: %s; retrying in %.1f s from resourceVersion %s",
                    self.resource.kind,
                    error,
                    retry_delay,
                    self.resource_version,
                )
                await asyncio.sleep(retry_delay)
                retry_delay = min(retry_delay * 2, RETRY_MAX_SECONDS)
            except (ValueError, KeyError) as error:
                # A malformed line from a cut-off stream; resume from the last resourceVersion.
                log.warning("%s watch stream unreadable (%r); resuming from %s", self.resource.kind, error, self.resource_version)
                await asyncio.sleep(retry_delay)
                retry_delay = min(retry_delay * 2, RETRY_MAX_SECONDS)
