"""Fixtures for the sink tests: real sinks on 127.0.0.1 with real DuckDB files in tmp_path.

``sink`` serves the aiohttp app in this process on an ephemeral loopback port.
``sink_process`` runs ``metrics-operator sink`` as a subprocess, for tests that kill
and restart it or drive it from another command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sink_helpers import TOKEN, Sink, SinkProcess, start_sink


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[Sink]:
    running = await start_sink(tmp_path / "sink.duckdb")
    yield running
    await running.server.close()


@pytest.fixture
async def http(auth_headers) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=auth_headers) as session:
        yield session


@pytest.fixture
def sink_process(tmp_path: Path, token_file: Path):
    process = SinkProcess(tmp_path / "sink.duckdb", token_file, tmp_path / "sink.log")
    yield process
    if process.process is not None and process.process.poll() is None:
        process.process.kill()
        process.process.wait(timeout=10)
