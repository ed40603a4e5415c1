"""Fixtures for catalog tests: the real tools must be installed, and each test gets its own DuckDB file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from metrics_operator.sink.store import Store

REQUIRED_TOOLS = ("stress-ng", "fio", "pidstat", "iperf3")


@pytest.fixture(scope="session", autouse=True)
def _tools_installed():
    # These tests run the real tools; a missing one is a broken set-up, not a reason to skip.
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: run 'apt-get install fio sysstat stress-ng iperf3'")


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "metrics.duckdb") as opened:
        yield opened
