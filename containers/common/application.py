"""Find the application process the way a sidecar in a shared-PID pod does, and watch it end.

A metric container is not handed the application's PID: it scans /proc for a process
whose command line contains the application's command, exactly as it must in a pod with
``shareProcessNamespace: true``. Only a process's parent can read its exit status, so
the application's wrapper writes it as JSON to ``EXIT_STATUS_FILE`` in a folder shared
with the collectors. The wrapper is the local runner, or the shell wrapper the operator
puts around the application container's command.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from metrics_operator.containers.common import procfs

log = logging.getLogger(__name__)

EXIT_STATUS_FILE = "exit-status.json"
# Seconds between checks for the application's process while a collector waits for it to start.
POLL_SECONDS = 0.25
# Seconds between checks for the application's exit. Each check reads /proc, and once a
# second ends a pod's metrics promptly enough, while every wake-up costs a collector on a
# small process tree more CPU than its samples do.
EXIT_POLL_SECONDS = 1.0


class ApplicationNotFound(RuntimeError):
    """The application's process did not appear in time."""


@dataclass(frozen=True)
class ExitStatus:
    """The application's exit code and end time, as written by its wrapper."""

    exit_code: int
    end_time: float


def write_exit_status(shared_dir: Path, exit_code: int, end_time: float | None = None) -> None:
    """Record the application's exit status for the collectors (atomically, via rename)."""
    payload = {"exitCode": exit_code, "endTime": end_time if end_time is not None else time.time()}
    temporary = shared_dir / f".{EXIT_STATUS_FILE}.tmp"
    temporary.write_text(json.dumps(payload))
    temporary.replace(shared_dir / EXIT_STATUS_FILE)


def read_exit_status(shared_dir: Path | None) -> ExitStatus | None:
    """Return the application's exit status, or None while it runs (or if no wrapper reports it)."""
    if shared_dir is None:
        return None
    try:
        payload = json.loads((shared_dir / EXIT_STATUS_FILE).read_text())
        return ExitStatus(exit_code=int(payload["exitCode"]), end_time=float(payload["endTime"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("cannot read application exit status in %s: %s", shared_dir, error)
        return None


def command_words(text: str) -> list[str]:
    """Split a command line into words as a shell would, or on spaces if it does not parse."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def contains_words(haystack: list[str], needle: list[str]) -> bool:
    """Return whether ``needle`` occurs as consecutive whole words of ``haystack``."""
    if not needle:
        return False
    width = len(needle)
    return any(haystack[start : start + width] == needle for start in range(len(haystack) - width + 1))


class Application:
    """The application being measured: found by its command line in /proc.

    A process matches when the command's words appear, as whole consecutive words, in
    its arguments (each argument split into words, so a ``sh -c "COMMAND"`` wrapper
    matches too). Whole words keep ``sleep 3`` from matching ``sleep 30``. In a pod the
    PID namespace limits the search to the pod; elsewhere ``scope_pid`` does, by
    accepting only descendants of that process.
    """

    def __init__(self, command: str, shared_dir: Path | None = None, *, scope_pid: int | None = None):
        self.command = command
        self.shared_dir = shared_dir
        self.scope_pid = scope_pid
        self._words = command_words(command)
        if self._words:
            self._words[0] = os.path.basename(self._words[0])
        self._own_pids = self._ancestors_and_self()
        self.root_pid: int | None = None
        self.start_time: float | None = None
        self._root_start_ticks: int | None = None

    @staticmethod
    def _ancestors_and_self() -> set[int]:
        # The collector's own process, and the processes that started it, may have the
        # command in their arguments (a test runner, a shell), so they never count.
        pids = set()
        pid = os.getpid()
        while pid > 1:
            pids.add(pid)
            stat = procfs.read_stat(pid)
            if stat is None:
                break
            pid = stat.ppid
        return pids

    def _matches(self, pid: int) -> bool:
        arguments = procfs.read_cmdline(pid)
        if arguments is None:
            return False
        # A shell or a shim may run the program by its full path (stress-ng as /usr/bin/stress-ng).
        if contains_words([os.path.basename(arguments[0]), *arguments[1:]], self._words):
            return True
        # A wrapper such as sh -c "COMMAND" carries the whole command in one argument.
        words = [word for argument in arguments for word in command_words(argument)]
        return contains_words(words, self._words)

    def _in_scope(self, stat: procfs.ProcessStat) -> bool:
        if self.scope_pid is None:
            return True
        parent = stat.ppid
        # Bounded walk up the parent chain: pid 1 or a vanished parent ends it.
        for _ in range(256):
            if parent == self.scope_pid:
                return True
            if parent <= 1:
                return False
            parent_stat = procfs.read_stat(parent)
            if parent_stat is None:
                return False
            parent = parent_stat.ppid
        return False

    def find(self) -> int | None:
        """Return the pid of the oldest process running the command whose parent does not run it."""
        candidates = []
        for pid in procfs.list_pids():
            if pid in self._own_pids or not self._matches(pid):
                continue
            stat = procfs.read_stat(pid)
            if stat is None or self._matches(stat.ppid) or not self._in_scope(stat):
                continue
            candidates.append(stat)
        if not candidates:
            return None
        root = min(candidates, key=lambda stat: (stat.start_ticks, stat.pid))
        self.root_pid = root.pid
        self.start_time = root.start_time
        self._root_start_ticks = root.start_ticks
        return root.pid

    async def wait_for_start(self, timeout: float) -> int:
        """Wait until the application's process appears and return its pid.

        Raises ApplicationNotFound after ``timeout`` seconds, or as soon as the wrapper
        reports that the application already exited without being seen.
        """
        deadline = time.monotonic() + timeout
        while True:
            pid = await asyncio.to_thread(self.find)
            if pid is not None:
                log.info("found application %r as pid %d", self.command, pid)
                return pid
            status = read_exit_status(self.shared_dir)
            if status is not None:
                raise ApplicationNotFound(
                    f"application command {self.command!r} exited with status {status.exit_code} "
                    "before its process could be found"
                )
            if time.monotonic() >= deadline:
                raise ApplicationNotFound(
                    f"no process running {self.command!r} appeared within {timeout:g} s: check that "
                    "spec.application.command matches what the container runs, or raise the timeout"
                )
            await asyncio.sleep(POLL_SECONDS)

    def exited(self) -> bool:
        """Whether the application has ended: its wrapper reported it, or its root process is gone."""
        if read_exit_status(self.shared_dir) is not None:
            return True
        if self.root_pid is None:
            return False
        # One read of /proc/PID/stat, because this runs several times a second.
        try:
            stat = procfs.read_proc_file(f"/proc/{self.root_pid}/stat")
        except OSError:
            return True
        fields = stat[stat.rindex(b")") + 2 :].split()
        # A recycled pid has another start time, and a zombie has finished running too.
        return int(fields[19]) != self._root_start_ticks or fields[0] in (b"Z", b"X")

    async def wait_for_exit(self, timeout: float | None = None) -> bool:
        """Wait until the application ends or ``timeout`` passes; return whether it ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.exited():
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                await asyncio.sleep(min(EXIT_POLL_SECONDS, remaining))
            else:
                await asyncio.sleep(EXIT_POLL_SECONDS)
        return True

    def tree(self) -> list[int]:
        """Pids of the application's process tree now."""
        if self.root_pid is None:
            return []
        return procfs.process_tree(self.root_pid)

    async def wait_for_exit_status(self, timeout: float) -> ExitStatus | None:
        """Wait up to ``timeout`` seconds for the wrapper's exit status; None if none comes."""
        deadline = time.monotonic() + timeout
        status = self.exit_status()
        while status is None and self.shared_dir is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            status = self.exit_status()
        return status

    def exit_status(self) -> ExitStatus | None:
        return read_exit_status(self.shared_dir)
