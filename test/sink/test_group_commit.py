"""Group commit in the sink's store and writer thread: several batches per transaction, each stored once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from metrics_operator.containers.common.writer import ResultRow, SampleColumns
from metrics_operator.sink.database import Database
from metrics_operator.sink.store import BatchInsert, Run, Store, UnknownRun


def samples_of(count: int, offset: float = 0.0) -> SampleColumns:
    columns = SampleColumns()
    for index in range(count):
        columns.append("perf-proc", "pod-0", "total", "cpu_percent", 1_796_400_000.0 + offset + index, float(index))
    return columns


def registered_store(path: Path) -> Store:
    store = Store(path)
    store.upsert_run(Run(uid="run-a", namespace="bench", name="a"))
    return store


def test_group_outcomes_per_batch(tmp_path: Path) -> None:
    with registered_store(tmp_path / "group.duckdb") as store:
        outcomes = store.insert_batches(
            [
                BatchInsert("run-a", "key-1", samples_of(3), []),
                BatchInsert("run-a", "key-1", samples_of(3), []),
                BatchInsert("run-missing", "key-2", samples_of(2), []),
                BatchInsert("run-a", "key-3", samples_of(4, offset=10), [ResultRow("fio", "pod-0", 1_796_400_000.0, {"iops": 1})]),
            ]
        )

        assert outcomes[0] is True
        assert outcomes[1] is False
        assert isinstance(outcomes[2], UnknownRun)
        assert outcomes[3] is True
        assert store.sample_count("run-a") == 7
        assert store.sample_count("run-missing") == 0
        assert len(store.results("run-a")) == 1


def test_group_key_seen_by_later_group(tmp_path: Path) -> None:
    with registered_store(tmp_path / "later.duckdb") as store:
        assert store.insert_batches([BatchInsert("run-a", "key-1", samples_of(3), [])]) == [True]
        assert store.insert_batches([BatchInsert("run-a", "key-1", samples_of(3), [])]) == [False]
        assert store.insert_batch("run-a", "key-1", samples_of(3), []) is False
        assert store.sample_count("run-a") == 3


def test_insert_batch_raises_unknown_run(tmp_path: Path) -> None:
    with registered_store(tmp_path / "unknown.duckdb") as store:
        with pytest.raises(UnknownRun):
            store.insert_batch("run-missing", "key-1", samples_of(1), [])


async def test_concurrent_writes_each_stored_once(tmp_path: Path) -> None:
    database = Database(tmp_path / "concurrent.duckdb")
    try:
        await database.write(lambda store: store.upsert_run(Run(uid="run-a", namespace="bench", name="a")))
        batches = [BatchInsert("run-a", f"key-{index % 10}", samples_of(5, offset=index * 100), []) for index in range(20)]

        outcomes = await asyncio.gather(*(database.write_batch(batch) for batch in batches))

        # Ten distinct keys, each sent twice: every key is stored by exactly one of its two requests.
        assert outcomes.count(True) == 10
        assert outcomes.count(False) == 10
        assert await database.read(lambda reader: reader.sample_count("run-a")) == 50
        with pytest.raises(UnknownRun):
            await database.write_batch(BatchInsert("run-missing", "key-x", samples_of(1), []))
    finally:
        database.close()


async def test_closed_database_rejects_writes(tmp_path: Path) -> None:
    database = Database(tmp_path / "closed.duckdb")
    database.close()

    with pytest.raises(RuntimeError, match="closed"):
        await database.write_batch(BatchInsert("run-a", "key-1", samples_of(1), []))
