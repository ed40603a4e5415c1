"""SampleWriter: when buffered rows go out, and that nothing is lost when sending fails."""

from __future__ import annotations

import asyncio

import pytest

from metrics_operator.containers.common.writer import SampleWriter


class RecordingDestination:
    """Keeps every batch it is given; fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.batches = []
        self.failing = False

    async def write(self, samples, results) -> None:
        if self.failing:
            raise ConnectionError("destination down")
        self.batches.append((samples.to_dict(), list(results)))


async def test_flush_after_row_limit():
    destination = RecordingDestination()
    writer = SampleWriter(destination, "pod-0", flush_rows=4, flush_seconds=3600)
    writer.add_sample("perf-proc", {"a": 1.0, "b": 2.0})
    await writer.maybe_flush()
    assert destination.batches == []
    writer.add_sample("perf-proc", {"a": 3.0, "b": 4.0})
    await writer.maybe_flush()
    assert len(destination.batches) == 1
    assert destination.batches[0][0]["value"] == [1.0, 2.0, 3.0, 4.0]


async def test_flush_after_interval():
    destination = RecordingDestination()
    writer = SampleWriter(destination, "pod-0", flush_rows=5000, flush_seconds=0.2)
    writer.add_sample("perf-proc", {"a": 1.0})
    await writer.maybe_flush()
    assert destination.batches == []
    await asyncio.sleep(0.25)
    await writer.maybe_flush()
    assert len(destination.batches) == 1


async def test_failed_flush_keeps_rows_in_order():
    destination = RecordingDestination()
    writer = SampleWriter(destination, "pod-0")
    writer.add_sample("perf-proc", {"a": 1.0})
    destination.failing = True
    with pytest.raises(ConnectionError):
        await writer.flush()
    writer.add_sample("perf-proc", {"a": 2.0})
    destination.failing = False
    await writer.flush()
    assert destination.batches[0][0]["value"] == [1.0, 2.0]
    assert writer.pending() == 0


async def test_non_finite_values_dropped():
    destination = RecordingDestination()
    writer = SampleWriter(destination, "pod-0")
    writer.add_sample("perf-proc", {"a": float("nan"), "b": float("inf"), "c": 5.0})
    await writer.flush()
    assert destination.batches[0][0]["field"] == ["c"]
