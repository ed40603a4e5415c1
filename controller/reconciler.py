"""Reconcile one MetricSet: validate it, ensure its sink and JobSet, then write its status once.

The pass is level-based: it reads the current state from the informer caches and
never trusts the event that queued the key, so running it twice changes nothing
the second time. Events are sent only after the status patch has landed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from metrics_operator.api.loader import problems_from
from metrics_operator.api.metricset import API_VERSION, KIND, MetricSet, Phase
from metrics_operator.controller import status as status_module
from metrics_operator.controller.config import OperatorConfig
from metrics_operator.controller.jobset import build_jobset
from metrics_operator.controller.resources import EVENTS, JOBSETS, METRICSET_LABEL, METRICSETS, PVCS, SERVICES, owner_uids
from metrics_operator.controller.runtime.logcontext import get_logger
from metrics_operator.controller.runtime.errors import ApiError, TerminalError
from metrics_operator.controller.runtime.kube import KubeClient
from metrics_operator.controller.service import ensure_headless_service
from metrics_operator.controller.sink import Cache, ensure_sink

log = get_logger(__name__)

# Time between checks for a missing storage PVC, besides the PVC watch.
STORAGE_RECHECK_SECONDS = 30.0
EVENT_COMPONENT = "metrics-operator"


@dataclass(frozen=True)
class Result:
    """Outcome of a successful pass: when, if ever, the key runs again."""

    requeue_after: float | None = None


class MetricSetReconciler:
    """Turns MetricSets into JobSets and sink objects; one instance serves all workers."""

    def __init__(self, kube: KubeClient, caches: dict[str, Cache], config: OperatorConfig, identity: str):
        self.kube = kube
        self.caches = caches
        self.config = config
        self.identity = identity

    async def reconcile(self, key: str) -> Result:
        """Bring the MetricSet ``namespace/name`` and what it owns to the wanted state."""
        namespace, name = key.split("/", 1)
        raw = self.caches[METRICSETS.kind].get(namespace, name)
        if raw is None or raw["metadata"].get("deletionTimestamp"):
            # Gone or going: owner references let the garbage collector remove the JobSet.
            return Result()
        previous = raw.get("status") or {}
        generation = raw["metadata"].get("generation")

        try:
            # The status is the controller's own output; only the user's part is validated.
            metricset = MetricSet.model_validate({**raw, "status": None})
        except ValidationError as error:
            message = "; ".join(str(problem) for problem in problems_from(error))
            await self._write_status(raw, self._invalid_status(previous, generation, message))
            return Result()

        if metricset.spec.sink.enabled:
            await ensure_sink(self.kube, self.caches, namespace, self.config)

        waiting = self._missing_storage(metricset)
        if waiting is not None:
            await self._write_status(raw, waiting)
            return Result(requeue_after=STORAGE_RECHECK_SECONDS)

        finished = previous.get("phase") in (Phase.SUCCEEDED.value, Phase.FAILED.value)
        if finished and self.caches[JOBSETS.kind].get(namespace, name) is None:
            # The run is over and its JobSet was cleaned up; the status is final.
            return Result()

        try:
            await ensure_headless_service(self.kube, self.caches[SERVICES.kind], namespace, metricset.spec.service_name)
            jobset = await self.ensure_jobset(metricset, raw)
        except TerminalError as error:
            log.error("%s: %s", metricset.key, error.message)
            conditions = [status_module.condition(status_module.FAILED, True, error.reason, error.message)]
            new = status_module.build_status(previous, phase=Phase.FAILED, conditions=conditions, generation=generation)
            await self._write_status(raw, new)
            return Result()
        phase, conditions, completion_time = status_module.jobset_phase(jobset)
        if metricset.spec.storage is not None and metricset.spec.storage.volume.claim_name:
            claim = metricset.spec.storage.volume.claim_name
            conditions.insert(0, status_module.condition(status_module.STORAGE_AVAILABLE, True, "StorageFound", f"PersistentVolumeClaim {claim} exists"))
        new = status_module.build_status(
            previous, phase=phase, conditions=conditions, generation=generation, jobset=jobset, completion_time=completion_time
        )
        await self._write_status(raw, new)
        return Result()

    def _invalid_status(self, previous: dict[str, Any], generation: int | None, message: str) -> dict[str, Any]:
        conditions = [status_module.condition(status_module.INVALID, True, "InvalidSpec", message)]
        return status_module.build_status(previous, phase=Phase.FAILED, conditions=conditions, generation=generation)

    def _missing_storage(self, metricset: MetricSet) -> dict[str, Any] | None:
        """Return a Pending status naming the missing PVC, or None when the storage is there."""
        storage = metricset.spec.storage
        if storage is None or not storage.volume.claim_name:
            return None
        claim = storage.volume.claim_name
        if self.caches[PVCS.kind].get(metricset.metadata.namespace, claim) is not None:
            return None
        log.info("%s waits for PersistentVolumeClaim %s", metricset.key, claim)
        message = f"PersistentVolumeClaim {claim} not found in namespace {metricset.metadata.namespace}: create it to start the run"
        conditions = [status_module.condition(status_module.STORAGE_AVAILABLE, False, "StorageNotFound", message)]
        raw_status = (self.caches[METRICSETS.kind].get(metricset.metadata.namespace, metricset.metadata.name) or {}).get("status") or {}
        return status_module.build_status(raw_status, phase=Phase.PENDING, conditions=conditions, generation=metricset.metadata.generation)

    async def ensure_jobset(self, metricset: MetricSet, raw: dict[str, Any]) -> dict[str, Any]:
        """Return the MetricSet's JobSet, creating it when it was never created."""
        namespace, name = metricset.metadata.namespace, metricset.metadata.name
        existing = self.caches[JOBSETS.kind].get(namespace, name)
        if existing is None and (raw.get("status") or {}).get("jobSetName"):
            existing = await self._find_created_jobset(metricset)
        if existing is not None:
            owners = owner_uids(existing, KIND)
            if (name, metricset.metadata.uid) not in owners:
                raise TerminalError(
                    "JobSetNameTaken",
                    f"JobSet {namespace}/{name} exists but belongs to another object: delete it or rename the MetricSet",
                )
            return existing

        body = build_jobset(metricset, raw, self.config)
        # A 409 here means the cache is behind; the worker requeues quietly and the next pass finds it.
        created = await self.kube.create(JOBSETS, namespace, body)
        log.info("%s: created JobSet %s", metricset.key, name)
        return created

    async def _find_created_jobset(self, metricset: MetricSet) -> dict[str, Any]:
        """Return the JobSet that the status records as created, read past the cache.

        The cache may not have caught up with a JobSet created a moment ago. One
        that is really gone was deleted by someone else, and creating it again would
        measure a second time under the same run, so that is a terminal error.
        """
        namespace, name = metricset.metadata.namespace, metricset.metadata.name
        found = await self.kube.list(JOBSETS, namespace, label_selector=f"{METRICSET_LABEL}={name}")
        for item in found.get("items") or []:
            if item["metadata"]["name"] == name:
                return item
        raise TerminalError("JobSetDeleted", f"JobSet {namespace}/{name} was deleted before the run ended: create a new MetricSet to measure again")

    async def _write_status(self, raw: dict[str, Any], new: dict[str, Any]) -> None:
        """Patch the status subresource if it changed, then record an Event if the phase changed."""
        metadata = raw["metadata"]
        previous = raw.get("status") or {}
        if not status_module.status_changed(previous, new):
            return
        patch = {"metadata": {"resourceVersion": metadata["resourceVersion"]}, "status": new}
        await self.kube.patch(METRICSETS, metadata["namespace"], metadata["name"], patch, subresource="status")
        log.info("%s/%s: status phase %s", metadata["namespace"], metadata["name"], new["phase"])
        if previous.get("phase") != new["phase"]:
            await self._record_event(raw, new)

    async def _record_event(self, raw: dict[str, Any], new: dict[str, Any]) -> None:
        metadata = raw["metadata"]
        phase = new["phase"]
        reasons = [item for item in new["conditions"] if item["status"] == "True"] or new["conditions"]
        message = reasons[0]["message"] if reasons and reasons[0]["message"] else f"MetricSet is {phase}"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata["uid"],
            },
            "reason": phase,
            "message": message[:1000],
            "type": "Warning" if phase == Phase.FAILED.value else "Normal",
            "source": {"component": EVENT_COMPONENT},
            "reportingComponent": EVENT_COMPONENT,
            "reportingInstance": self.identity,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.create(EVENTS, metadata["namespace"], event)
        except ApiError as error:
            # The status already landed; a lost Event must not make the pass retry and patch again.
            log.warning("%s/%s: recording Event %s failed: %s", metadata["namespace"], metadata["name"], phase, error)
