"""WorkQueue: deduplication, one worker per key, per-key exponential backoff, with a manual clock."""

from __future__ import annotations

import asyncio

import pytest

from metrics_operator.controller.runtime.clock import ManualClock
from metrics_operator.controller.runtime.metrics import ControllerMetrics
from metrics_operator.controller.runtime.workqueue import ShutDown, WorkQueue


def make_queue(**kwargs) -> tuple[WorkQueue, ManualClock]:
    clock = ManualClock()
    return WorkQueue(clock=clock, **kwargs), clock


def test_duplicate_adds_queue_key_once() -> None:
    queue, _ = make_queue()
    for _ in range(5):
        queue.add("ns/a")
    queue.add("ns/b")

    assert queue.pop_ready() == "ns/a"
    assert queue.pop_ready() == "ns/b"
    assert queue.pop_ready() is None


def test_key_in_processing_waits_for_done() -> None:
    queue, _ = make_queue()
    queue.add("ns/a")
    assert queue.pop_ready() == "ns/a"

    queue.add("ns/a")
    assert queue.pop_ready() is None, "a key being processed must not go to a second worker"

    queue.done("ns/a")
    assert queue.pop_ready() == "ns/a"


def test_done_without_readd_drops_key() -> None:
    queue, _ = make_queue()
    queue.add("ns/a")
    queue.pop_ready()
    queue.done("ns/a")
    assert queue.pop_ready() is None


@pytest.mark.parametrize(
    ("failures", "expected_delay"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 60.0), (30, 60.0)],
    ids=["first", "second", "third", "fourth", "capped", "capped-far"],
)
def test_backoff_doubles_up_to_cap(failures: int, expected_delay: float) -> None:
    queue, _ = make_queue(base_delay=0.5, max_delay=60.0)
    delays = [queue.add_rate_limited("ns/a") for _ in range(failures)]
    assert delays[-1] == expected_delay


def test_backoff_is_per_key_and_forget_resets() -> None:
    queue, _ = make_queue(base_delay=1.0)
    queue.add_rate_limited("ns/a")
    queue.add_rate_limited("ns/a")
    assert queue.add_rate_limited("ns/b") == 1.0
    assert queue.failures("ns/a") == 2

    queue.forget("ns/a")
    assert queue.failures("ns/a") == 0
    assert queue.add_rate_limited("ns/a") == 1.0


def test_delayed_key_is_due_only_after_delay() -> None:
    queue, clock = make_queue()
    queue.add_after("ns/a", 10.0)
    assert queue.pop_ready() is None

    clock.advance(9.9)
    assert queue.pop_ready() is None

    clock.advance(0.2)
    assert queue.pop_ready() == "ns/a"


def test_delayed_key_already_queued_is_not_duplicated() -> None:
    queue, clock = make_queue()
    queue.add("ns/a")
    queue.add_after("ns/a", 1.0)
    clock.advance(2.0)
    assert queue.pop_ready() == "ns/a"
    assert queue.pop_ready() is None


def test_depth_and_latency_metrics() -> None:
    metrics = ControllerMetrics()
    queue, clock = make_queue(metrics=metrics)
    queue.add("ns/a")
    queue.add("ns/b")
    assert metrics.registry.get_sample_value("metrics_operator_workqueue_depth") == 2

    clock.advance(3.0)
    queue.pop_ready()
    assert metrics.registry.get_sample_value("metrics_operator_workqueue_depth") == 1
    assert metrics.registry.get_sample_value("metrics_operator_workqueue_queue_duration_seconds_sum") == 3.0


async def test_get_wakes_on_add_and_raises_after_shutdown() -> None:
    queue = WorkQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()

    queue.add("ns/a")
    assert await asyncio.wait_for(waiter, 5) == "ns/a"

    queue.shut_down()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(queue.get(), 5)


async def test_concurrent_workers_never_share_a_key() -> None:
    queue = WorkQueue()
    active: set[str] = set()
    overlaps: list[str] = []
    handled: list[str] = []

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0.001)
            # Re-adding while processing must defer the key, not hand it to another worker.
            if handled.count(key) < 2:
                queue.add(key)
            handled.append(key)
            active.discard(key)
            queue.done(key)

    for index in range(4):
        queue.add(f"ns/{index}")
    workers = [asyncio.create_task(worker()) for _ in range(3)]
    for _ in range(200):
        if len(handled) >= 12:
            break
        await asyncio.sleep(0.01)
    queue.shut_down()
    await asyncio.gather(*workers)

    assert overlaps == []
    assert sorted(handled) == sorted([f"ns/{index}" for index in range(4)] * 3)
