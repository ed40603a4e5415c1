"""A work queue of object keys, in the style of client-go's rate-limited queue.

Guarantees:
- A key waits in the queue at most once, however often it is added (deduplication).
- A key is handed to at most one worker at a time. Adding a key that is being
  processed marks it dirty, and it is queued again when the worker calls ``done``.
- ``add_rate_limited`` delays a key by ``base_delay * 2**(failures - 1)``, capped at
  ``max_delay``, per key; ``forget`` resets the count after a success.

Time comes from an injected clock, so tests drive delays with ``ManualClock`` and
``pop_ready`` without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque

from metrics_operator.controller.runtime.clock import Clock, MonotonicClock
from metrics_operator.controller.runtime.metrics import ControllerMetrics

DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 300.0


class ShutDown(Exception):
    """Raised by ``get`` once the queue is shut down."""


class WorkQueue:
    """Deduplicating, per-key exclusive queue with delayed and backed-off adds."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        metrics: ControllerMetrics | None = None,
    ):
        self.clock = clock or MonotonicClock()
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.metrics = metrics
        self._ready: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._sequence = 0
        self._failures: dict[str, int] = {}
        self._added_at: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._ready)

    def add(self, key: str) -> None:
        """Queue ``key`` now, unless it already waits; a key being processed is queued on ``done``."""
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._added_at.setdefault(key, self.clock.now())
        if key not in self._processing:
            self._ready.append(key)
            self._update_depth()
            self._changed.set()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed."""
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key)
            return
        self._sequence += 1
        heapq.heappush(self._delayed, (self.clock.now() + delay, self._sequence, key))
        self._changed.set()

    def add_rate_limited(self, key: str) -> float:
        """Queue ``key`` after its next backoff delay and return that delay in seconds."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(self.base_delay * 2 ** (failures - 1), self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the backoff of ``key``, after it was processed successfully."""
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def _promote_due(self) -> None:
        now = self.clock.now()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self.add(key)

    def pop_ready(self) -> str | None:
        """Take the next key that is due, or return None; the caller must call ``done`` with it."""
        self._promote_due()
        if not self._ready:
            return None
        key = self._ready.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        added_at = self._added_at.pop(key, None)
        if self.metrics is not None and added_at is not None:
            self.metrics.queue_latency_seconds.observe(max(0.0, self.clock.now() - added_at))
        self._update_depth()
        return key

    async def get(self) -> str:
        """Wait for the next due key and take it; raises ShutDown once the queue is shut down."""
        while True:
            if self._shut_down:
                raise ShutDown()
            key = self.pop_ready()
            if key is not None:
                return key
            self._changed.clear()
            timeout = None
            if self._delayed:
                timeout = max(0.0, self._delayed[0][0] - self.clock.now())
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass

    def done(self, key: str) -> None:
        """Mark ``key`` as processed; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._ready.append(key)
            self._update_depth()
            self._changed.set()

    def shut_down(self) -> None:
        """Make every waiting and future ``get`` raise ShutDown."""
        self._shut_down = True
        self._changed.set()

    def _update_depth(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(len(self._ready))
