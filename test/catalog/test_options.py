"""Invalid options of each new metric are rejected with the option's name and what it accepts."""

from __future__ import annotations

import pytest

from metrics_operator.api import MetricSetInvalid, parse_metricset

APPLICATION = {"application": {"image": "busybox", "command": "sleep 1"}}
STORAGE = {"storage": {"volume": {"hostPath": "/var/tmp"}}}
NETWORK: dict = {}

# (case id, spec target, metric entry, expected path, words the message must contain)
CASES = [
    ("sysstat-unknown-option", APPLICATION, {"name": "perf-sysstat", "options": {"children": True}},
     "options.children", ["unknown option 'children'", "includeChildren"]),
    ("sysstat-wrong-type", APPLICATION, {"name": "perf-sysstat", "options": {"includeChildren": "maybe"}},
     "options.includeChildren", ["includeChildren", "boolean"]),
    ("sysstat-fractional-rate", APPLICATION, {"name": "perf-sysstat", "rate": 0.5},
     "rate", ["whole seconds", "0.5"]),
    ("iostat-bad-device", STORAGE, {"name": "io-stat", "options": {"device": "../sda"}},
     "options.device", ["'device'", "io-stat", "matches"]),
    ("profiles-unknown-profile", STORAGE, {"name": "io-fio-profiles", "options": {"profiles": ["seq-read", "sideways"]}},
     "options.profiles.1", ["'profiles.1'", "seq-read, seq-write, rand-read, rand-write"]),
    ("profiles-empty", STORAGE, {"name": "io-fio-profiles", "options": {"profiles": []}},
     "options.profiles", ["'profiles'", "items >= 1"]),
    ("profiles-depth-too-big", STORAGE, {"name": "io-fio-profiles", "options": {"iodepth": 5000}},
     "options.iodepth", ["'iodepth'", ">= 1, <= 1024", "5000"]),
    ("iperf3-bad-protocol", NETWORK, {"name": "network-iperf3", "options": {"protocol": "sctp"}},
     "options.protocol", ["'protocol'", "one of tcp, udp", "sctp"]),
    ("iperf3-port-too-low", NETWORK, {"name": "network-iperf3", "options": {"port": 80}},
     "options.port", ["'port'", ">= 1024, <= 65535", "80"]),
    ("iperf3-zero-duration", NETWORK, {"name": "network-iperf3", "options": {"duration": 0}},
     "options.duration", ["'duration'", ">= 1, <= 3600"]),
    ("iperf3-bad-bitrate", NETWORK, {"name": "network-iperf3", "options": {"bitrate": "fast"}},
     "options.bitrate", ["'bitrate'", "matches"]),
    ("iperf3-too-many-streams", NETWORK, {"name": "network-iperf3", "options": {"parallel": 500}},
     "options.parallel", ["'parallel'", "<= 128"]),
]


@pytest.mark.parametrize(("target", "metric", "path", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_invalid_option_rejected(target, metric, path, words):
    document = {
        "apiVersion": "metrics-operator.io/v1alpha1",
        "kind": "MetricSet",
        "metadata": {"name": "options"},
        "spec": {**target, "metrics": [metric]},
    }
    with pytest.raises(MetricSetInvalid) as raised:
        parse_metricset(document)
    problems = raised.value.problems
    assert len(problems) == 1, problems
    assert problems[0].path == f"spec.metrics[0].{path}"
    for word in words:
        assert word in problems[0].message, problems[0].message


def test_valid_options_are_typed():
    metricset = parse_metricset({
        "apiVersion": "metrics-operator.io/v1alpha1",
        "kind": "MetricSet",
        "metadata": {"name": "options"},
        "spec": {"metrics": [{"name": "network-iperf3", "options": {"protocol": "udp", "bitrate": "10M"}}]},
    })
    options = metricset.spec.metrics[0].options_model()
    assert options.protocol == "udp"
    assert options.bitrate == "10M"
    assert options.port == 5201
