"""The sink's access to its DuckDB store: one writer thread, and readers on their own cursors.

DuckDB calls block, so none runs on the event loop. Writes go through one writer
thread, which runs them in arrival order and leaves the event loop free while a
batch commits. Sample batches that queued up while the writer was busy are stored
in one transaction (group commit), and each waiting request gets its response only
after that commit. Reads run in the default executor on a fresh cursor each, so a query
reads a consistent snapshot and never queues behind a batch insert.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from metrics_operator.sink.store import BatchInsert, Store, StoreReader

log = logging.getLogger(__name__)

T = TypeVar("T")

# Batches stored in one transaction at most: bounds the time the first of them waits for
# its commit. Each pusher waits for its acknowledgement, so N pushers queue at most N batches.
MAX_GROUP_BATCHES = 64


@dataclass
class _WriteRequest:
    """A write waiting for the writer thread: an operation on the Store, or a batch to group."""

    work: Callable[[Store], Any] | BatchInsert
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future

    def resolve(self, outcome: Any) -> None:
        """Hand the outcome (a value, or an exception to raise) to the waiting coroutine."""
        try:
            self.loop.call_soon_threadsafe(_set_outcome, self.future, outcome)
        except RuntimeError as error:
            # The event loop closed while the write ran, so no coroutine waits for the outcome.
            log.warning("write finished after its event loop closed, outcome dropped: %s", error)


def _set_outcome(future: asyncio.Future, outcome: Any) -> None:
    # The waiting handler may have been cancelled; the write itself has happened anyway.
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Database:
    """A Store opened by the sink, with the executors that keep DuckDB off the event loop."""

    def __init__(self, path: Path):
        self.path = path
        self.store = Store(path)
        # None in the queue stops the writer thread once everything before it is written.
        self._requests: queue.SimpleQueue[_WriteRequest | None] = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="duckdb-writer", daemon=True)
        self._writer.start()
        # Readers take their cursors from this cursor, not from the Store's connection,
        # so opening one never waits for the Store's lock while a batch commits.
        self._cursor_source = self.store.reader().connection
        self._cursor_lock = threading.Lock()
        log.info("opened database %s", path)

    async def write(self, operation: Callable[[Store], T]) -> T:
        """Run ``operation(store)`` in the writer thread and return its result once committed."""
        return await self._submit(operation)

    async def write_batch(self, batch: BatchInsert) -> bool:
        """Store a batch once per idempotency key, possibly in one transaction with other queued batches.

        Returns False if the key was already stored, and raises UnknownRun if the run
        was never registered, as Store.insert_batch does; it returns after the commit.
        """
        return await self._submit(batch)

    async def _submit(self, work: Callable[[Store], Any] | BatchInsert) -> Any:
        if self._closed:
            raise RuntimeError(f"database {self.path} is closed")
        loop = asyncio.get_running_loop()
        request = _WriteRequest(work, loop, loop.create_future())
        self._requests.put(request)
        return await request.future

    def _write_loop(self) -> None:
        """Take every queued request, run them in order, and resolve each after its commit."""
        while True:
            first = self._requests.get()
            if first is None:
                return
            group, stopping = [first], False
            while len(group) < MAX_GROUP_BATCHES:
                try:
                    request = self._requests.get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    stopping = True
                    break
                group.append(request)
            self._run_in_order(group)
            if stopping:
                return

    def _run_in_order(self, group: list[_WriteRequest]) -> None:
        # Consecutive batches share a transaction; any other operation runs alone, between them.
        batches: list[_WriteRequest] = []
        for request in group:
            if isinstance(request.work, BatchInsert):
                batches.append(request)
                continue
            self._store_batches(batches)
            batches = []
            self._run_operation(request)
        self._store_batches(batches)

    def _run_operation(self, request: _WriteRequest) -> None:
        try:
            outcome = request.work(self.store)
        except Exception as error:  # noqa: BLE001 - handed to the waiting handler, which raises it
            outcome = error
        request.resolve(outcome)

    def _store_batches(self, requests: list[_WriteRequest]) -> None:
        if not requests:
            return
        try:
            outcomes = self.store.insert_batches([request.work for request in requests])
        except Exception as error:  # noqa: BLE001 - retried one by one below, so one bad batch fails alone
            if len(requests) == 1:
                requests[0].resolve(error)
                return
            log.warning("group commit of %d batches failed, storing them one by one: %s", len(requests), error)
            for request in requests:
                self._store_batches([request])
            return
        for request, outcome in zip(requests, outcomes):
            request.resolve(outcome)

    async def read(self, query: Callable[[StoreReader], T]) -> T:
        """Run ``query(reader)`` on a new cursor in a worker thread."""
        return await asyncio.to_thread(self.read_now, query)

    def read_now(self, query: Callable[[StoreReader], T]) -> T:
        """Run ``query(reader)`` on a new cursor in the calling thread, which must not run the event loop."""
        with self._cursor_lock:
            connection = self._cursor_source.cursor()
        with StoreReader(connection) as reader:
            return query(reader)

    def close(self) -> None:
        """Wait for pending writes, then close the database."""
        self._closed = True
        self._requests.put(None)
        self._writer.join()
        with self._cursor_lock:
            self._cursor_source.close()
        self.store.close()
        log.info("closed database %s", self.path)
