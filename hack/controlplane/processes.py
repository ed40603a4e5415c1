"""Start, probe and stop the control plane processes."""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("cluster")

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    # NOTE: another process can take the port between this check and the
    # component binding it; a start then fails and `up` reports the log.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def start(name: str, argv: list[str], log_dir: Path) -> subprocess.Popen:
    """Start ARGV detached from this process so it outlives `hack/cluster up`."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    log.info("start %s: pid %d, log %s", name, process.pid, log_path)
    return process


def wait_until(
    name: str,
    ready: Callable[[], bool],
    process: subprocess.Popen | None,
    log_path: Path,
    timeout: float,
) -> None:
    """Poll READY until it returns True; fail early with the log when PROCESS exits."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise SystemExit(
                f"{name} exited with code {process.returncode} before it was ready; "
                f"last lines of {log_path}:\n{log_tail(log_path)}"
            )
        try:
            if ready():
                return
        except (OSError, urllib.error.URLError):
            # Connection refused or reset while the component is starting.
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} was not ready after {timeout:.0f} s; last lines of {log_path}:\n{log_tail(log_path)}")
        time.sleep(0.2)


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return False


def insecure_context() -> ssl.SSLContext:
    """TLS context for health probes of components that serve self-signed certificates on loopback."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def is_alive(pid: int, executable: str) -> bool:
    """Return True when PID runs EXECUTABLE, so a reused pid is never taken for a component."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return command_line == executable


def stop(name: str, pid: int, executable: str, timeout: float = 15.0) -> None:
    """Send SIGTERM to a component, then SIGKILL when it has not exited after TIMEOUT seconds."""
    if not is_alive(pid, executable):
        log.info("stop %s: pid %d already gone", name, pid)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_alive(pid, executable):
        if time.monotonic() > deadline:
            log.warning("stop %s: pid %d still running after %.0f s, sending SIGKILL", name, pid, timeout)
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    log.info("stop %s: pid %d stopped", name, pid)
