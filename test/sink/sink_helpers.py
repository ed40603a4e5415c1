"""Helpers for the sink tests: sinks on 127.0.0.1, in this process or as a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp.test_utils import TestServer

from metrics_operator.sink.app import create_app
from metrics_operator.sink.state import SinkConfig

TOKEN = "test-token-0123456789"
VENV_BIN = Path(sys.executable).parent
LISTENING = re.compile(r"sink listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT_SECONDS = 30.0


@dataclass
class Sink:
    """A running in-process sink: its base URL, app and database file."""

    url: str
    db_path: Path
    server: TestServer

    @property
    def app(self):
        return self.server.app


async def start_sink(db_path: Path, **limits) -> Sink:
    """Serve a sink app on an ephemeral port of 127.0.0.1."""
    server = TestServer(create_app(SinkConfig(db_path=db_path, token=TOKEN, **limits)), host="127.0.0.1", port=0)
    await server.start_server()
    return Sink(url=str(server.make_url("")).rstrip("/"), db_path=db_path, server=server)


class SinkProcess:
    """``metrics-operator sink`` in a subprocess, which tests may SIGKILL and restart on the same port."""

    def __init__(self, db_path: Path, token_file: Path, log_path: Path):
        self.db_path = db_path
        self.token_file = token_file
        self.log_path = log_path
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start the sink and wait until it listens; return its URL."""
        command = [
            str(VENV_BIN / "metrics-operator"), "sink", "--db", str(self.db_path),
            "--host", "127.0.0.1", "--port", str(self.port), "--token-file", str(self.token_file),
        ]
        log_file = self.log_path.open("a")
        offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with self.log_path.open() as log:
                log.seek(offset)
                match = LISTENING.search(log.read())
            if match:
                self.url = match.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"sink did not start within {START_TIMEOUT_SECONDS} s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """Stop the sink with SIGKILL, as a node failure or OOM kill would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the sink with SIGTERM and wait for it to close the database."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def cli_environment() -> dict[str, str]:
    """Environment for running the CLI in a subprocess, with the venv first on PATH."""
    return {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
