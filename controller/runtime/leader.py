"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

A candidate takes the Lease when it is free (no holder) or expired (not renewed for
``lease_duration`` seconds by the holder's own clock, which this candidate measures as
the time since it last saw the Lease change). The leader renews every
``retry_period``; if it cannot renew within ``renew_deadline`` it stops leading, and
``renew_deadline < lease_duration`` makes it stop before anyone else may take over.
Updates carry the resourceVersion read, so two candidates never both win a round.
On shutdown the leader releases the Lease so a successor need not wait it out.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from metrics_operator.controller.runtime.clock import Clock, MonotonicClock
from metrics_operator.controller.runtime.errors import ApiError
from metrics_operator.controller.runtime.kube import KubeClient, Resource

log = logging.getLogger(__name__)

LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires and renews one Lease for ``identity``; ``is_leader`` is True while it holds it."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Clock | None = None,
    ):
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError(
                f"leader election needs retry period ({retry_period}) < renew deadline ({renew_deadline}) "
                f"< lease duration ({lease_duration})"
            )
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock or MonotonicClock()
        self.is_leader = False
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0

    def _lease_spec(self, previous: dict[str, Any]) -> dict[str, Any]:
        now = _micro_time()
        taking_over = previous.get("holderIdentity") != self.identity
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": now if taking_over else previous.get("acquireTime", now),
            "renewTime": now,
            "leaseTransitions": previous.get("leaseTransitions", 0) + (1 if taking_over and previous else 0),
        }

    async def try_acquire_or_renew(self) -> bool:
        """Make one attempt to take or renew the Lease; return whether this candidate holds it."""
        try:
            lease = await self.kube.get(LEASES, self.namespace, self.name)
        except ApiError as error:
            if not error.is_not_found:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._lease_spec({}),
            }
            await self.kube.create(LEASES, self.namespace, body)
            self._observe(body["spec"])
            return True

        spec = lease.get("spec") or {}
        if self._observed != spec:
            self._observe(spec)
        holder = spec.get("holderIdentity")
        expired = self.clock.now() - self._observed_at > float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and not expired:
            return False

        lease["spec"] = self._lease_spec(spec)
        await self.kube.replace(LEASES, self.namespace, self.name, lease)
        self._observe(lease["spec"])
        return True

    def _observe(self, spec: dict[str, Any]) -> None:
        self._observed = spec
        self._observed_at = self.clock.now()

    async def acquire(self) -> None:
        """Wait until this candidate holds the Lease."""
        log.info("waiting to lead through Lease %s/%s as %s", self.namespace, self.name, self.identity)
        while True:
            try:
                if await self.try_acquire_or_renew():
                    break
            except ApiError as error:
                # A 409 means another candidate updated the Lease first.
                if not error.is_conflict:
                    log.warning("acquiring Lease %s/%s failed: %s", self.namespace, self.name, error)
            await asyncio.sleep(self.retry_period)
        self.is_leader = True
        log.info("leading through Lease %s/%s as %s", self.namespace, self.name, self.identity)

    async def keep_renewing(self) -> None:
        """Renew the Lease until a renewal misses the deadline, then return (leadership is lost)."""
        last_renewed = self.clock.now()
        while True:
            await asyncio.sleep(self.retry_period)
            try:
                if await self.try_acquire_or_renew():
                    last_renewed = self.clock.now()
                    continue
                log.error("Lease %s/%s was taken by another candidate", self.namespace, self.name)
                break
            except ApiError as error:
                log.warning("renewing Lease %s/%s failed: %s", self.namespace, self.name, error)
            if self.clock.now() - last_renewed > self.renew_deadline:
                log.error("could not renew Lease %s/%s within %.0f s", self.namespace, self.name, self.renew_deadline)
                break
        self.is_leader = False

    async def release(self) -> None:
        """Give up the Lease if this candidate holds it, so a successor can take it at once."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            lease = await self.kube.get(LEASES, self.namespace, self.name)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            spec["holderIdentity"] = None
            spec["leaseDurationSeconds"] = 1
            spec["renewTime"] = _micro_time()
            lease["spec"] = spec
            await self.kube.replace(LEASES, self.namespace, self.name, lease)
            log.info("released Lease %s/%s", self.namespace, self.name)
        except ApiError as error:
            log.warning("releasing Lease %s/%s failed: %s", self.namespace, self.name, error)
