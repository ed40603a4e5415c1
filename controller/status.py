"""Compute a MetricSet's status from its JobSet, and keep condition transition times stable.

Status is a pure function of what the controller observes, so a pass over an
unchanged MetricSet computes the same status and sends no patch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from metrics_operator.api.metricset import Phase

# Condition types the controller sets on a MetricSet.
INVALID = "Invalid"
STORAGE_AVAILABLE = "StorageAvailable"
RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": "True" if status else "False", "reason": reason, "message": message}


def _true_condition(jobset: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for item in (jobset.get("status") or {}).get("conditions") or []:
        if item.get("type") == type_ and item.get("status") == "True":
            return item
    return None


def jobset_phase(jobset: dict[str, Any]) -> tuple[Phase, list[dict[str, Any]], str | None]:
    """Return the phase, the phase conditions and the completion time that a JobSet's status shows."""
    completed = _true_condition(jobset, "Completed")
    if completed is not None:
        conditions = [
            condition(RUNNING, False, "Completed", "all pods finished"),
            condition(COMPLETED, True, completed.get("reason") or "AllJobsCompleted", completed.get("message") or ""),
        ]
        return Phase.SUCCEEDED, conditions, completed.get("lastTransitionTime")

    failed = _true_condition(jobset, "Failed")
    if failed is not None:
        conditions = [
            condition(RUNNING, False, "Failed", "the run failed"),
            condition(FAILED, True, failed.get("reason") or "JobSetFailed", failed.get("message") or ""),
        ]
        return Phase.FAILED, conditions, failed.get("lastTransitionTime")

    # JobSet counts a Job as ready once all its pods are ready or done.
    replicated = ((jobset.get("status") or {}).get("replicatedJobsStatus") or [{}])[0]
    if (replicated.get("ready") or 0) + (replicated.get("succeeded") or 0) > 0:
        return Phase.RUNNING, [condition(RUNNING, True, "PodsReady", "all pods are running")], None
    return Phase.PENDING, [condition(RUNNING, False, "PodsNotReady", "waiting for the pods to start")], None


def merge_conditions(previous: list[dict[str, Any]], current: list[dict[str, Any]], generation: int | None) -> list[dict[str, Any]]:
    """Stamp ``current`` conditions with transition times, kept from ``previous`` where the status did not change."""
    by_type = {item.get("type"): item for item in previous}
    merged = []
    for item in current:
        old = by_type.get(item["type"])
        stamped = dict(item, observedGeneration=generation)
        if old is not None and old.get("status") == item["status"] and old.get("lastTransitionTime"):
            stamped["lastTransitionTime"] = old["lastTransitionTime"]
        else:
            stamped["lastTransitionTime"] = now_rfc3339()
        merged.append(stamped)
    return merged


def build_status(
    previous: dict[str, Any],
    *,
    phase: Phase,
    conditions: list[dict[str, Any]],
    generation: int | None,
    jobset: dict[str, Any] | None = None,
    completion_time: str | None = None,
) -> dict[str, Any]:
    """Return the whole new status; fields that do not apply are None, which a merge patch removes."""
    return {
        "phase": phase.value,
        "conditions": merge_conditions(previous.get("conditions") or [], conditions, generation),
        "jobSetName": jobset["metadata"]["name"] if jobset else None,
        "startTime": jobset["metadata"].get("creationTimestamp") if jobset else None,
        "completionTime": completion_time,
        "observedGeneration": generation,
    }


def status_changed(previous: dict[str, Any], new: dict[str, Any]) -> bool:
    """Return whether ``new`` differs from the stored status (a None field equals an absent one)."""
    for key, value in new.items():
        if previous.get(key) != value:
            return True
    return False
