"""The push client's spool, backoff and failure reporting, without a sink where none is needed."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest
from sink_helpers import TOKEN

from metrics_operator.containers.common.push import (
    Batch,
    PushDestination,
    PushFailed,
    RetryPolicy,
    SinkClient,
    Spool,
    SpoolFull,
)
from metrics_operator.containers.common.writer import ResultRow, SampleColumns


def batch_with(rows: int, first_value: float) -> Batch:
    columns = SampleColumns()
    for index in range(rows):
        columns.append("m", "pod-0", "total", "f", 1796400000.0 + index, first_value + index)
    return Batch(samples=columns, results=[ResultRow("m", "pod-0", 1796400000.0, {"first": first_value})])


def test_spool_keeps_order_across_file(tmp_path: Path):
    spool = Spool(tmp_path / "spool.jsonl", memory_rows=25)
    batches = [batch_with(10, first_value=index * 100.0) for index in range(6)]
    for batch in batches:
        spool.put(batch)

    spilled = (tmp_path / "spool.jsonl").exists()
    drained = []
    while (head := spool.peek()) is not None:
        drained.append(head)
        spool.pop()

    assert spilled
    assert [batch.key for batch in drained] == [batch.key for batch in batches]
    assert [batch.samples.value for batch in drained] == [batch.samples.value for batch in batches]
    assert drained[-1].results == batches[-1].results
    assert len(spool) == 0
    assert not (tmp_path / "spool.jsonl").exists()


def test_spool_full_raises(tmp_path: Path):
    spool = Spool(tmp_path / "spool.jsonl", memory_rows=0, max_file_bytes=2000)
    spool.put(batch_with(5, 0.0))

    with pytest.raises(SpoolFull, match="check that the sink is running"):
        for index in range(20):
            spool.put(batch_with(5, float(index)))
    assert len(spool) >= 1


@pytest.mark.parametrize("attempt, ceiling", [(0, 0.2), (1, 0.4), (3, 1.6), (10, 10.0), (500, 10.0)])
def test_backoff_delay_within_ceiling(attempt, ceiling):
    policy = RetryPolicy(initial_delay=0.2, max_delay=10.0)
    rng = random.Random(7)

    delays = [policy.delay(attempt, rng) for _ in range(200)]

    assert min(delays) >= 0
    assert max(delays) <= ceiling
    # Full jitter spreads retries over the whole interval.
    assert max(delays) > ceiling / 2


def unused_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_unreachable_sink_fails_close(tmp_path: Path):
    client = SinkClient(f"http://127.0.0.1:{unused_loopback_port()}", "token", retry=RetryPolicy(0.01, 0.05, 0.5))
    destination = PushDestination(client, "run-x", spool_path=tmp_path / "spool.jsonl", flush_timeout=1.0)
    await destination.write(batch_with(3, 0.0).samples, [])

    with pytest.raises(PushFailed, match="1 batches of run run-x were not accepted"):
        await destination.close()
    await client.close()
    assert client.retries > 0


async def test_rejected_batch_fails_close(sink, tmp_path: Path):
    # The run was never registered, so the sink rejects the batch with 404 and retrying cannot help.
    client = SinkClient(sink.url, TOKEN)
    destination = PushDestination(client, "never-registered", spool_path=tmp_path / "spool.jsonl", flush_timeout=10.0)
    await destination.write(batch_with(3, 0.0).samples, [])

    with pytest.raises(PushFailed, match="rejected 1 batches"):
        await destination.close()
    await client.close()
    assert client.retries == 0
