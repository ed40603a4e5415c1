"""Run iperf3 servers and clients with ``--json`` and read their reports.

An iperf3 server runs one test at a time and refuses a second client with "the server
is busy"; a client that starts before its server gets "connection refused". Clients
therefore retry both, for a bounded time, while the server runs one test per start
(``--one-off``) so that it exits on its own once every client is served.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from metrics_operator.containers.common.collector import CollectorError
from metrics_operator.containers.common.process import run_tool

# Errors of a client that may succeed when tried again: the server is not up yet, or busy.
RETRYABLE_ERRORS = ("unable to connect", "server is busy", "connection refused", "unable to receive control message")
RETRY_SECONDS = 1.0
# Seconds allowed on top of a test's duration for connecting and exchanging results.
TEST_OVERHEAD_SECONDS = 30.0


def _report(stdout: bytes) -> dict[str, Any]:
    text = stdout.decode(errors="replace")
    if "{" not in text:
        raise CollectorError(f"iperf3 printed no JSON report: {text.strip()[:200] or 'no output'}")
    return json.loads(text[text.index("{") :])


async def run_server(command: list[str], timeout: float) -> dict[str, Any]:
    """Run a one-off server until its test ends; raise CollectorError if no client comes in ``timeout`` s."""
    try:
        output = await run_tool(command, timeout=timeout)
    except TimeoutError:
        raise CollectorError(
            f"no iperf3 client finished a test within {timeout:g} s (option serverTimeout): "
            "check that the client pods can reach pod 0 through the headless Service"
        ) from None
    report = _report(output.stdout)
    if output.returncode != 0 or "error" in report:
        raise CollectorError(f"iperf3 server failed: {report.get('error') or output.last_error_line()}")
    return report


async def run_client(command: list[str], duration: float, connect_timeout: float, log: logging.LoggerAdapter) -> dict[str, Any]:
    """Run a client test, retrying while the server is not up or busy, for at most ``connect_timeout`` s."""
    deadline = time.monotonic() + connect_timeout
    attempt = 0
    while True:
        attempt += 1
        output = await run_tool(command, timeout=duration + TEST_OVERHEAD_SECONDS)
        report = _report(output.stdout)
        error = report.get("error")
        if output.returncode == 0 and not error:
            return report
        message = error or output.last_error_line()
        retryable = any(text in message.lower() for text in RETRYABLE_ERRORS)
        if not retryable or time.monotonic() + RETRY_SECONDS > deadline:
            raise CollectorError(f"iperf3 client failed after {attempt} attempts: {message}")
        log.info("iperf3 client attempt %d failed (%s); retrying in %g s", attempt, message, RETRY_SECONDS)
        await asyncio.sleep(RETRY_SECONDS)


def client_values(report: dict[str, Any]) -> dict[str, float]:
    """Extract bitrate, bytes, retransmits (TCP), jitter and loss (UDP) and CPU from a client report."""
    end = report.get("end") or {}
    sent = end.get("sum_sent") or {}
    received = end.get("sum_received") or {}
    if not received:
        raise CollectorError("iperf3 client report has no end.sum_received; the test did not complete")
    protocol = report.get("start", {}).get("test_start", {}).get("protocol", "TCP")

    values = {
        "bitrate_bits_per_second": float(received["bits_per_second"]),
        "sent_bits_per_second": float(sent.get("bits_per_second", 0.0)),
        "sent_bytes": float(sent.get("bytes", 0)),
        "received_bytes": float(received.get("bytes", 0)),
    }
    if protocol == "TCP":
        values["retransmits"] = float(sent.get("retransmits", 0))
    else:
        values["jitter_ms"] = float(received.get("jitter_ms", 0.0))
        values["lost_packets"] = float(received.get("lost_packets", 0))
        values["lost_percent"] = float(received.get("lost_percent", 0.0))
    cpu = end.get("cpu_utilization_percent") or {}
    if "host_total" in cpu:
        values["client_cpu_percent"] = float(cpu["host_total"])
    if "remote_total" in cpu:
        values["server_cpu_percent"] = float(cpu["remote_total"])
    return values


def report_summary(report: dict[str, Any]) -> dict[str, Any]:
    """Keep the start and end of a report; per-second intervals are dropped, because they grow with duration."""
    return {
        "start": report.get("start"),
        "end": report.get("end"),
        "intervals": len(report.get("intervals") or []),
    }
