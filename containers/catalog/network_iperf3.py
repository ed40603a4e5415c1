"""network-iperf3: bitrate, retransmits, jitter and loss between pods, measured by iperf3.

Pod 0 runs the iperf3 server and every other pod runs a client against it through the
headless Service (the leader host). An iperf3 server serves one test at a time, so the
clients take turns: each one retries while the server is busy. With a single pod, as in
local mode, the pod runs both roles over 127.0.0.1 and measures its loopback interface.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from metrics_operator.api.base import ApiModel
from metrics_operator.api.registry import Family, FieldSpec, MetricDefinition, Tool
from metrics_operator.containers.common.collector import Collector
from metrics_operator.containers.common.iperf3 import (
    TEST_OVERHEAD_SECONDS,
    client_values,
    report_summary,
    run_client,
    run_server,
)

LOOPBACK = "127.0.0.1"


class Iperf3Options(ApiModel):
    """Options of network-iperf3, passed to iperf3 as the flags of the same name."""

    protocol: Literal["tcp", "udp"] = Field("tcp", description="Transport protocol. udp adds jitter and loss (iperf3 --udp).")
    duration: int = Field(10, ge=1, le=3600, description="Seconds each test sends data (iperf3 --time).")
    parallel: int = Field(1, ge=1, le=128, description="Parallel streams per client (iperf3 --parallel).")
    reverse: bool = Field(False, description="Server sends and client receives, instead of the other way (iperf3 --reverse).")
    bitrate: str | None = Field(
        None,
        pattern=r"^[0-9]+(\.[0-9]+)?[kKmMgG]?$",
        description="Target bitrate in bits/s per stream, e.g. 100M; unset is 1M for udp and unlimited "
        "for tcp (iperf3 --bitrate).",
    )
    port: int = Field(5201, ge=1024, le=65535, description="TCP and UDP port of the server (iperf3 --port).")
    server_timeout: int = Field(
        120, ge=1, le=86400,
        description="Seconds the server waits for each client test, on top of the test's duration.",
    )
    connect_timeout: int = Field(
        120, ge=1, le=86400,
        description="Seconds a client keeps retrying while the server is not up yet or busy with another "
        "client, on top of the time the other clients' tests take.",
    )


def server_command(options: Iperf3Options, bind: str | None) -> list[str]:
    """Build a one-off iperf3 server command; ``bind`` limits it to one address."""
    command = ["iperf3", "--server", "--one-off", "--json", "--port", str(options.port)]
    if bind is not None:
        command += ["--bind", bind]
    return command


def client_command(options: Iperf3Options, host: str) -> list[str]:
    """Build an iperf3 client command for one test against ``host``."""
    command = [
        "iperf3", "--client", host, "--port", str(options.port), "--json",
        "--time", str(options.duration), "--parallel", str(options.parallel),
    ]
    if options.protocol == "udp":
        command.append("--udp")
    if options.reverse:
        command.append("--reverse")
    if options.bitrate is not None:
        command += ["--bitrate", options.bitrate]
    return command


class Iperf3Collector(Collector):
    """Runs the server role in pod 0 and the client role elsewhere, or both with a single pod."""

    async def collect(self) -> None:
        run = self.context.run
        tests = max(1, self.metric.completions)
        if run.pods == 1:
            await self._run_tests(tests, LOOPBACK, with_server=True)
        elif run.pod_index == 0:
            await self._serve(clients=run.pods - 1, tests=tests)
        else:
            await self._run_tests(tests, self.context.leader_host, with_server=False)

    @property
    def _direction(self) -> str:
        return "server-to-client" if self.options.reverse else "client-to-server"

    def _server_timeout(self) -> float:
        return self.options.server_timeout + self.options.duration + TEST_OVERHEAD_SECONDS

    async def _serve(self, clients: int, tests: int) -> None:
        """Serve ``tests`` tests for each client, one at a time, and store the server's view of each."""
        self.log.info("serving %d iperf3 tests for %d clients on port %d", clients * tests, clients, self.options.port)
        for index in range(clients * tests):
            report = await run_server(server_command(self.options, bind=None), self._server_timeout())
            connected = (report.get("start") or {}).get("connected") or [{}]
            self.log.info("iperf3 test %d of %d finished with client %s", index + 1, clients * tests, connected[0].get("remote_host"))
            self.writer.add_result(self.name, {"role": "server", **report_summary(report)})

    async def _run_tests(self, tests: int, host: str, *, with_server: bool) -> None:
        for index in range(tests):
            if index:
                await asyncio.sleep(self.metric.rate)
            if with_server:
                report = await self._loopback_test(host)
            else:
                report = await self._client_test(host)
            series = f"{self.context.run.pod}/{self._direction}"
            self.writer.add_sample(self.name, client_values(report), series=series)
            self.writer.add_result(self.name, {"role": "client", "series": series, **report_summary(report)})

    async def _loopback_test(self, host: str) -> dict:
        """Run a server and a client in this pod; a failing server (port in use) ends the test at once."""
        # The server only listens on loopback, because nothing outside this pod takes part.
        server = asyncio.create_task(run_server(server_command(self.options, LOOPBACK), self._server_timeout()))
        client = asyncio.create_task(self._client_test(host))
        try:
            done, _ = await asyncio.wait({server, client}, return_when=asyncio.FIRST_EXCEPTION)
            if server in done and server.exception() is not None:
                raise server.exception()
            report = await client
            await server
            return report
        finally:
            for task in (server, client):
                task.cancel()
            await asyncio.gather(server, client, return_exceptions=True)

    async def _client_test(self, host: str) -> dict:
        # Clients take turns on the one server, so a client may wait for every other client's test.
        other_clients = max(0, self.context.run.pods - 2)
        budget = self.options.connect_timeout + other_clients * (self.options.duration + TEST_OVERHEAD_SECONDS)
        return await run_client(client_command(self.options, host), self.options.duration, budget, self.log)


METRIC = MetricDefinition(
    name="network-iperf3",
    family=Family.NETWORK,
    summary="Bitrate, bytes, TCP retransmits, UDP jitter and loss, and CPU use of iperf3 tests from every "
    "pod to pod 0 (or pod 0 to every pod with reverse), one sample per client and direction (series "
    "<pod>/<direction>). With one pod it measures the pod's loopback interface.",
    options=Iperf3Options,
    image="metrics-operator/network",
    collector=Iperf3Collector,
    tools=(Tool(command="iperf3", package="iperf3"),),
    fields={
        "bitrate_bits_per_second": FieldSpec("bits/s", "rate at which data arrived at the receiver"),
        "sent_bits_per_second": FieldSpec("bits/s", "rate at which the sender sent"),
        "sent_bytes": FieldSpec("bytes", "bytes the sender sent"),
        "received_bytes": FieldSpec("bytes", "bytes the receiver received"),
        "retransmits": FieldSpec("count", "TCP segments the sender retransmitted (tcp only)"),
        "jitter_ms": FieldSpec("ms", "variation in packet transit time at the receiver (udp only)"),
        "lost_packets": FieldSpec("count", "datagrams that did not arrive (udp only)"),
        "lost_percent": FieldSpec("%", "share of datagrams that did not arrive (udp only)"),
        "client_cpu_percent": FieldSpec("%", "CPU use of the client's iperf3 process over the test"),
        "server_cpu_percent": FieldSpec("%", "CPU use of the server's iperf3 process over the test"),
    },
)
