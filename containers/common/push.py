"""Push a collector's batches and its run's status to the namespace's sink over HTTP.

``PushDestination`` is the ``Destination`` of a metric container: ``write`` only puts
the batch in a spool and returns, and a background task sends the spool in order.
Each batch gets its idempotency key when it is created, so every retry of it carries
the same key and the sink stores it once, even when the sink committed a batch and
crashed before acknowledging it. While the sink is down the sender retries with
exponential backoff and full jitter. The spool keeps up to ``memory_rows`` rows in
memory and spills further batches to a file, so nothing is dropped during a sink
restart. ``close`` waits for the spool to drain, for at most ``flush_timeout`` seconds.

Samples travel as an Arrow IPC stream. For a 5,000-row batch the sink decoded and
validated it about 15 times faster than the same batch as JSON columns (0.36 ms
against 5.4 ms), and the client encoded it 8 times faster (test/sink/bench_wire_format.py,
2-core AMD EPYC virtual machine).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
import time
import urllib.parse
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pyarrow as pa

from metrics_operator.containers.common.writer import ResultRow, SampleColumns

log = logging.getLogger(__name__)

ARROW_STREAM_TYPE = "application/vnd.apache.arrow.stream"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REQUEST_TIMEOUT_SECONDS = 30.0
# Statuses worth retrying: the sink is overloaded, restarting or behind a proxy that timed out.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class SinkUnavailable(RuntimeError):
    """The sink could not be reached, or it returned a status worth retrying."""


class SinkRejected(RuntimeError):
    """The sink rejected a request with a 4xx; resending it unchanged cannot succeed."""


class PushFailed(RuntimeError):
    """Batches were not delivered before the flush timeout, or the sink rejected some."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in total time."""

    initial_delay: float = 0.2
    max_delay: float = 10.0
    # Total seconds one request is retried before SinkUnavailable reaches the caller.
    give_up_after: float = 120.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return a random delay in [0, min(max_delay, initial_delay * 2**attempt)] seconds."""
        ceiling = min(self.max_delay, self.initial_delay * 2 ** min(attempt, 30))
        return rng.uniform(0, ceiling)


def sample_columns_to_arrow_stream(samples: SampleColumns) -> bytes:
    """Encode a SampleColumns batch as an Arrow IPC stream, the sink's fastest body format."""
    table = samples.to_arrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return sink.getvalue().to_pybytes()


def check_sink_url(url: str) -> str:
    """Return ``url`` without a trailing slash, or raise ValueError unless it is an http(s) URL with a host."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"invalid sink URL {url!r}: use http://HOST:PORT, for example http://127.0.0.1:8080")
    return url.rstrip("/")


class SinkClient:
    """Calls the sink's /v1 API with a bearer token, retrying what is worth retrying."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ):
        self.url = check_sink_url(url)
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        # Requests sent again after a failure, for logs and tests.
        self.retries = 0

    async def __aenter__(self) -> SinkClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
            )
        return self._session

    def backoff_delay(self, attempt: int) -> float:
        """Return the jittered delay before retry number ``attempt`` (from 0)."""
        return self.retry.delay(attempt, self._rng)

    async def register_run(self, run: dict[str, Any]) -> dict[str, Any]:
        """Register a run or report its status (a dict shaped like ``Run.to_dict()``)."""
        return await self.request_with_retry("POST", "/v1/runs", json_body=run, description=f"run {run.get('uid')}")

    async def get_summary(self, run_uid: str) -> list[dict[str, Any]]:
        """Return the run's summary rows (count, min, mean, max, p50, p95, p99 per metric and field)."""
        document = await self.request_with_retry("GET", f"/v1/runs/{run_uid}/summary", description=f"summary of run {run_uid}")
        return document["summary"]

    async def send_batch(self, run_uid: str, batch: Batch) -> None:
        """Send one batch's samples and results, each under a key derived from the batch's key."""
        if len(batch.samples):
            await self.request_with_retry(
                "POST",
                f"/v1/runs/{run_uid}/samples",
                data=sample_columns_to_arrow_stream(batch.samples),
                headers={"Content-Type": ARROW_STREAM_TYPE, IDEMPOTENCY_HEADER: f"{batch.key}-samples"},
                description=f"samples of run {run_uid}",
            )
        if batch.results:
            await self.request_with_retry(
                "POST",
                f"/v1/runs/{run_uid}/results",
                json_body={"results": [_result_to_dict(row) for row in batch.results]},
                headers={IDEMPOTENCY_HEADER: f"{batch.key}-results"},
                description=f"results of run {run_uid}",
            )

    async def request_with_retry(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        description: str,
    ) -> Any:
        """Send a request until it succeeds, is rejected, or ``retry.give_up_after`` seconds pass."""
        deadline = time.monotonic() + self.retry.give_up_after
        attempt = 0
        while True:
            try:
                return await self.request(method, path, json_body=json_body, data=data, headers=headers)
            except SinkUnavailable as error:
                delay = self.backoff_delay(attempt)
                if time.monotonic() + delay > deadline:
                    raise SinkUnavailable(
                        f"sending {description} to {self.url} failed for {self.retry.give_up_after:g} s: {error}"
                    ) from error
                log.warning("sending %s failed (attempt %d), retrying in %.2f s: %s", description, attempt + 1, delay, error)
                attempt += 1
                self.retries += 1
                await asyncio.sleep(delay)

    async def request(
        self, method: str, path: str, *, json_body: Any = None, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        """Send one request; raise SinkUnavailable or SinkRejected on failure."""
        try:
            async with self._client_session().request(
                method, self.url + path, json=json_body, data=data, headers=headers
            ) as response:
                text = await response.text()
                if response.status < 300:
                    return json.loads(text) if text else None
                detail = _error_detail(text)
                if response.status in RETRYABLE_STATUSES:
                    raise SinkUnavailable(f"{method} {path} returned {response.status}: {detail}")
                raise SinkRejected(f"{method} {path} returned {response.status}: {detail}")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise SinkUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from error


def _error_detail(text: str) -> str:
    try:
        return str(json.loads(text).get("error", text))[:300]
    except (ValueError, AttributeError):
        return text[:300]


def _result_to_dict(row: ResultRow) -> dict[str, Any]:
    return {"metric": row.metric, "pod": row.pod, "timestamp": row.timestamp, "data": row.data}


@dataclass
class Batch:
    """Rows handed over by one ``write``, with the idempotency key fixed at creation."""

    samples: SampleColumns
    results: list[ResultRow]
    key: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def rows(self) -> int:
        return len(self.samples) + len(self.results)

    def to_json(self) -> str:
        return json.dumps(
            {"key": self.key, "samples": self.samples.to_dict(), "results": [_result_to_dict(row) for row in self.results]}
        )

    @classmethod
    def from_json(cls, line: str) -> Batch:
        document = json.loads(line)
        return cls(
            samples=SampleColumns(**document["samples"]),
            results=[ResultRow(**row) for row in document["results"]],
            key=document["key"],
        )


class SpoolFull(RuntimeError):
    """The spool reached its file size limit; the sink has been unreachable for too long."""


class Spool:
    """A FIFO of batches: in memory up to ``memory_rows`` rows, then appended to a file.

    Once a batch is in the file, later batches go there too, so batches leave in the
    order they came. The file is removed when everything in it has been sent. A lock
    makes the methods safe to call from worker threads, which keeps file I/O off the
    event loop.
    """

    def __init__(self, path: Path, *, memory_rows: int = 100_000, max_file_bytes: int = 1024**3):
        self.path = path
        self.memory_rows = memory_rows
        self.max_file_bytes = max_file_bytes
        self._memory: deque[Batch] = deque()
        self._memory_row_count = 0
        self._file_batches = 0
        self._read_offset = 0
        self._file_head: Batch | None = None
        self._file_head_end = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._memory) + self._file_batches

    def put(self, batch: Batch) -> None:
        """Add a batch at the end; raise SpoolFull when the file would pass ``max_file_bytes``."""
        with self._lock:
            self._put(batch)

    def _put(self, batch: Batch) -> None:
        if self._file_batches == 0 and self._memory_row_count + batch.rows <= self.memory_rows:
            self._memory.append(batch)
            self._memory_row_count += batch.rows
            return
        line = batch.to_json() + "\n"
        size = self.path.stat().st_size if self.path.exists() else 0
        if size + len(line) > self.max_file_bytes:
            raise SpoolFull(
                f"spool file {self.path} would pass {self.max_file_bytes} bytes; the sink has not accepted "
                "batches for too long: check that the sink is running"
            )
        if self._file_batches == 0:
            log.warning("spool passed %d rows in memory; spilling batches to %s", self.memory_rows, self.path)
        with self.path.open("a") as spool_file:
            spool_file.write(line)
        self._file_batches += 1

    def peek(self) -> Batch | None:
        """Return the oldest batch without removing it, or None if the spool is empty."""
        with self._lock:
            return self._peek()

    def _peek(self) -> Batch | None:
        if self._memory:
            return self._memory[0]
        if self._file_batches == 0:
            return None
        if self._file_head is None:
            with self.path.open() as spool_file:
                spool_file.seek(self._read_offset)
                line = spool_file.readline()
                self._file_head_end = spool_file.tell()
            self._file_head = Batch.from_json(line)
        return self._file_head

    def pop(self) -> None:
        """Remove the oldest batch (the one ``peek`` returned)."""
        with self._lock:
            self._pop()

    def _pop(self) -> None:
        if self._memory:
            self._memory_row_count -= self._memory.popleft().rows
            return
        self._file_head = None
        self._read_offset = self._file_head_end
        self._file_batches -= 1
        if self._file_batches == 0:
            self.path.unlink(missing_ok=True)
            self._read_offset = 0


class PushDestination:
    """Sends a collector's batches to the sink in the background, in order, each under its own idempotency key."""

    def __init__(
        self,
        client: SinkClient,
        run_uid: str,
        *,
        spool_path: Path | None = None,
        memory_rows: int = 100_000,
        flush_timeout: float = 300.0,
    ):
        self.client = client
        self.run_uid = run_uid
        self.flush_timeout = flush_timeout
        path = spool_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"metrics-operator-spool-{uuid.uuid4()}.jsonl"
        self.spool = Spool(path, memory_rows=memory_rows)
        self.sent_batches = 0
        self.rejected: list[str] = []
        self._wakeup = asyncio.Event()
        self._sender: asyncio.Task | None = None

    async def write(self, samples: SampleColumns, results: list[ResultRow]) -> None:
        """Queue the rows for sending; return at once, unless the spool file is full."""
        batch = Batch(samples=samples, results=list(results))
        if batch.rows == 0:
            return
        await asyncio.to_thread(self.spool.put, batch)
        self._wakeup.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_spool(), name=f"push-{self.run_uid}")

    async def _send_spool(self) -> None:
        attempt = 0
        while True:
            batch = await asyncio.to_thread(self.spool.peek)
            if batch is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self.client.send_batch(self.run_uid, batch)
            except SinkUnavailable as error:
                # Keep the batch at the head and try again later: it stays in order and keeps its key.
                delay = self.client.backoff_delay(attempt)
                log.warning("run %s: sink unavailable, batch %s waits %.2f s: %s", self.run_uid, batch.key, delay, error)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            except SinkRejected as error:
                log.error("run %s: sink rejected batch %s of %d rows, dropping it: %s", self.run_uid, batch.key, batch.rows, error)
                self.rejected.append(str(error))
            else:
                self.sent_batches += 1
            attempt = 0
            await asyncio.to_thread(self.spool.pop)

    async def close(self) -> None:
        """Wait until every batch is sent, for at most ``flush_timeout`` seconds, then stop the sender.

        Raises PushFailed when batches remain unsent or the sink rejected some.
        """
        deadline = time.monotonic() + self.flush_timeout
        while len(self.spool) and self._sender is not None and not self._sender.done():
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if len(self.spool):
            raise PushFailed(
                f"{len(self.spool)} batches of run {self.run_uid} were not accepted by {self.client.url} within "
                f"{self.flush_timeout:g} s; unsent rows remain in {self.spool.path} if it exists"
            )
        if self.rejected:
            raise PushFailed(f"the sink rejected {len(self.rejected)} batches of run {self.run_uid}: {self.rejected[0]}")


class SinkRecorder:
    """Records a local run through the sink's API, for ``metrics-operator local --sink``.

    It fits local mode's RunRecorder interface (``async save(run)``).
    """

    def __init__(self, client: SinkClient):
        self.client = client

    async def save(self, run) -> None:
        await self.client.register_run(run.to_dict())
