"""The sink's access to its DuckDB store: one writer thread, and readers on their own cursors.

DuckDB calls block, so none runs on the event loop. Writes go through a single-thread
executor, which keeps them in arrival order and leaves the event loop free while a
batch commits. Reads run in the default executor on a fresh cursor each, so a query
reads a consistent snapshot and never queues behind a batch insert.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from metrics_operator.sink.store import Store, StoreReader

log = logging.getLogger(__name__)

T = TypeVar("T")


class Database:
    """A Store opened by the sink, with the executors that keep DuckDB off the event loop."""

    def __init__(self, path: Path):
        self.path = path
        self.store = Store(path)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-writer")
        # Readers take their cursors from this cursor, not from the Store's connection,
        # so opening one never waits for the Store's lock while a batch commits.
        self._cursor_source = self.store.reader().connection
        self._cursor_lock = threading.Lock()
        log.info("opened database %s", path)

    async def write(self, operation: Callable[[Store], T]) -> T:
        """Run ``operation(store)`` in the writer thread and return its result once committed."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, operation, self.store)

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
        self._writer.shutdown(wait=True)
        with self._cursor_lock:
            self._cursor_source.close()
        self.store.close()
        log.info("closed database %s", self.path)
