"""Run a measuring tool (fio, pidstat, iperf3) as a child process and collect its output."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class ToolOutput:
    """The exit status and output of a finished tool."""

    returncode: int
    stdout: bytes
    stderr: bytes

    def last_error_line(self) -> str:
        """Return the last line on stderr, which is where these tools put the reason they failed."""
        lines = self.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"


async def run_tool(command: list[str], *, env: dict[str, str] | None = None, timeout: float | None = None) -> ToolOutput:
    """Run ``command`` to completion and return its output.

    The process is killed when the caller is cancelled or ``timeout`` seconds pass
    (TimeoutError is raised then), so no tool outlives the collector that started it.
    """
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except (asyncio.CancelledError, TimeoutError):
        process.kill()
        await process.wait()
        raise
    return ToolOutput(process.returncode, stdout, stderr)
