"""network-iperf3 over loopback: a real iperf3 server and client on 127.0.0.1 and a free port."""

from __future__ import annotations

import socket

from catalog_runs import free_port, metricset, run_metricset


async def test_tcp_loopback_bitrate(store):
    run = metricset("iperf3-tcp", {
        "metrics": [{"name": "network-iperf3", "options": {"duration": 1, "port": free_port()}}],
    })
    result = await run_metricset(store, run)
    assert result.run.status == "Succeeded", result.run.message

    samples = store.samples(result.run.uid, metric="network-iperf3").to_pylist()
    values = {row["field"]: row["value"] for row in samples}
    assert values["bitrate_bits_per_second"] > 0
    assert values["received_bytes"] > 0
    assert "retransmits" in values
    assert "jitter_ms" not in values
    assert {row["series"] for row in samples} == {"local-0/client-to-server"}


async def test_udp_reverse_jitter_and_loss(store):
    run = metricset("iperf3-udp", {
        "metrics": [{"name": "network-iperf3", "options": {
            "protocol": "udp", "reverse": True, "bitrate": "20M", "duration": 1, "port": free_port(),
        }}],
    })
    result = await run_metricset(store, run)
    assert result.run.status == "Succeeded", result.run.message

    samples = store.samples(result.run.uid, metric="network-iperf3").to_pylist()
    values = {row["field"]: row["value"] for row in samples}
    assert values["bitrate_bits_per_second"] > 0
    assert "jitter_ms" in values
    assert 0 <= values["lost_percent"] <= 100
    assert "retransmits" not in values
    assert {row["series"] for row in samples} == {"local-0/server-to-client"}


async def test_port_in_use_fails_clearly(store):
    # Something else listens on the port, so the server cannot start and the run must fail fast.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]
        run = metricset("iperf3-busy-port", {
            "metrics": [{"name": "network-iperf3", "options": {"duration": 1, "port": port, "connectTimeout": 5}}],
        })
        result = await run_metricset(store, run)
    assert result.run.status == "Failed"
    assert "iperf3" in result.run.message
    assert "network-iperf3" in result.run.message
