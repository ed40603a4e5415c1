"""A sink killed with SIGKILL while pushers send, then restarted, stores every sample exactly once.

Four pushers send numbered batches concurrently through the real push client. Partway
through, the sink process gets SIGKILL (no chance to flush or respond), and a new
process starts on the same file and port. The pushers' spools resend what was not
acknowledged with the original idempotency keys, so the stored count and value sum
of each run must equal what its pusher generated.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from metrics_operator.containers.common.push import PushDestination, RetryPolicy, SinkClient
from metrics_operator.containers.common.writer import SampleColumns
from metrics_operator.sink.store import Store
from sink_helpers import TOKEN

PUSHERS = 4
BATCHES = 40
ROWS_PER_BATCH = 500
WRITE_INTERVAL_SECONDS = 0.05
# Small enough that a pusher's spool spills to its file while the sink is down.
MEMORY_ROWS = 3 * ROWS_PER_BATCH
KILL_AFTER_FRACTION = 0.2
WAIT_LIMIT_SECONDS = 60.0
RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.5, give_up_after=WAIT_LIMIT_SECONDS)


def batch_of(pusher: int, batch: int) -> SampleColumns:
    """Rows whose values identify pusher, batch and row, so any loss or duplicate changes the sum."""
    columns = SampleColumns()
    for row in range(ROWS_PER_BATCH):
        value = pusher * 1_000_000 + batch * 1_000 + row
        columns.append("load", f"pod-{pusher}", "total", "value", 1796400000.0 + batch + row / 1000, float(value))
    return columns


def expected_sum(pusher: int) -> float:
    return float(sum(sum(batch_of(pusher, batch).value) for batch in range(BATCHES)))


async def push_all(url: str, pusher: int, spool_dir: Path) -> SinkClient:
    """Register a run and send every batch of one pusher; return its client for its retry count."""
    client = SinkClient(url, TOKEN, retry=RETRY)
    uid = f"run-{pusher}"
    await client.register_run({"uid": uid, "namespace": "load", "name": f"pusher-{pusher}", "status": "Running"})
    destination = PushDestination(
        client, uid, spool_path=spool_dir / f"spool-{pusher}.jsonl", memory_rows=MEMORY_ROWS, flush_timeout=WAIT_LIMIT_SECONDS
    )
    try:
        for batch in range(BATCHES):
            await destination.write(batch_of(pusher, batch), [])
            await asyncio.sleep(WRITE_INTERVAL_SECONDS)
        await destination.close()
    finally:
        await client.close()
    return client


async def stored_rows(http: aiohttp.ClientSession, url: str) -> int:
    total = 0
    for pusher in range(PUSHERS):
        response = await http.get(f"{url}/v1/runs/run-{pusher}")
        if response.status == 200:
            total += (await response.json())["sampleCount"]
    return total


async def test_sigkill_restart_stores_once(sink_process, tmp_path: Path, auth_headers):
    url = sink_process.start()
    pushers = [asyncio.create_task(push_all(url, pusher, tmp_path)) for pusher in range(PUSHERS)]

    # Kill once part of the data is stored, while the pushers are still writing.
    kill_at = KILL_AFTER_FRACTION * PUSHERS * BATCHES * ROWS_PER_BATCH
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    async with aiohttp.ClientSession(headers=auth_headers) as http:
        while await stored_rows(http, url) < kill_at:
            assert time.monotonic() < deadline, "pushers stored too little to test a kill"
            await asyncio.sleep(0.05)
    sink_process.kill()
    killed_at = time.monotonic()
    await asyncio.sleep(1.0)
    assert sink_process.start() == url
    clients = await asyncio.wait_for(asyncio.gather(*pushers), WAIT_LIMIT_SECONDS)
    sink_process.stop()

    with Store(sink_process.db_path, read_only=True) as store:
        totals = store.connection.execute(
            "SELECT run_uid, count(*), sum(value), count(DISTINCT value) FROM samples GROUP BY run_uid ORDER BY run_uid"
        ).fetchall()
        batch_keys = store.connection.execute("SELECT count(*) FROM ingested_batches").fetchone()[0]

    assert sum(client.retries for client in clients) > 0, "no pusher had to retry, so the kill missed the pushes"
    assert time.monotonic() - killed_at < WAIT_LIMIT_SECONDS
    assert len(totals) == PUSHERS
    for pusher, (uid, count, value_sum, distinct) in enumerate(totals):
        assert uid == f"run-{pusher}"
        assert count == BATCHES * ROWS_PER_BATCH, uid
        assert distinct == count, uid
        assert value_sum == expected_sum(pusher), uid
    assert batch_keys == PUSHERS * BATCHES
    assert not list(tmp_path.glob("spool-*.jsonl")), "spool files should be removed once sent"
