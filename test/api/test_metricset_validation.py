"""MetricSet validation: every invalid document names the field, the value and the fix."""

from __future__ import annotations

import copy

import pytest
import yaml

from metrics_operator.api import MetricSetInvalid, load_metricsets_text, parse_metricset
from metrics_operator.api.registry import all_metrics

VALID_APPLICATION = {
    "apiVersion": "metrics-operator.io/v1alpha1",
    "kind": "MetricSet",
    "metadata": {"name": "app"},
    "spec": {
        "application": {"image": "busybox", "command": "sleep 1"},
        "metrics": [{"name": "perf-proc", "rate": 1}],
    },
}
VALID_STORAGE = {
    "apiVersion": "metrics-operator.io/v1alpha1",
    "kind": "MetricSet",
    "metadata": {"name": "disk"},
    "spec": {
        "storage": {"volume": {"hostPath": "/tmp"}},
        "metrics": [{"name": "io-fio"}],
    },
}


def changed(base: dict, path: str, value) -> dict:
    """Copy ``base`` with the dotted ``path`` set to ``value`` (a DELETE value removes the key)."""
    document = copy.deepcopy(base)
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return document


DELETE = object()

# (case id, document, expected path, words the message must contain)
INVALID_CASES = [
    ("rate-wrong-type", changed(VALID_APPLICATION, "spec.metrics.0.rate", "fast"), "spec.metrics[0].rate", ["number", "'fast'"]),
    ("rate-negative", changed(VALID_APPLICATION, "spec.metrics.0.rate", -5), "spec.metrics[0].rate", ["greater than or equal to 0.1", "-5"]),
    ("rate-too-fine", changed(VALID_APPLICATION, "spec.metrics.0.rate", 0.001), "spec.metrics[0].rate", ["0.1", "0.001"]),
    ("rate-not-a-number", changed(VALID_APPLICATION, "spec.metrics.0.rate", float("nan")), "spec.metrics[0].rate", ["finite number"]),
    ("host-path-relative", changed(VALID_STORAGE, "spec.storage.volume.hostPath", "scratch"), "spec.storage.volume.hostPath", ["absolute path", "'scratch'"]),
    ("unknown-top-level-field", changed(VALID_APPLICATION, "spce", {}), "spce", ["unknown field 'spce'", "spec"]),
    ("completions-negative", changed(VALID_APPLICATION, "spec.metrics.0.completions", -1), "spec.metrics[0].completions", ["greater than or equal to 0"]),
    ("pods-zero", changed(VALID_APPLICATION, "spec.pods", 0), "spec.pods", ["greater than or equal to 1"]),
    ("pods-string", changed(VALID_APPLICATION, "spec.pods", "two"), "spec.pods", ["integer", "'two'"]),
    ("unknown-metric", changed(VALID_APPLICATION, "spec.metrics.0.name", "perf-magic"), "spec.metrics[0].name", ["unknown metric 'perf-magic'", "perf-proc", "io-fio"]),
    ("unknown-option", changed(VALID_APPLICATION, "spec.metrics.0.options", {"colour": "red"}), "spec.metrics[0].options.colour", ["unknown option 'colour'", "perf-proc"]),
    ("option-wrong-type", changed(VALID_STORAGE, "spec.metrics.0.options", {"iodepth": "deep"}), "spec.metrics[0].options.iodepth", ["iodepth", "integer"]),
    ("option-out-of-range", changed(VALID_STORAGE, "spec.metrics.0.options", {"iodepth": 5000}), "spec.metrics[0].options.iodepth", ["less than or equal to 1024", "5000"]),
    ("option-bad-enum", changed(VALID_STORAGE, "spec.metrics.0.options", {"rw": "sideways"}), "spec.metrics[0].options.rw", ["'randrw'", "sideways"]),
    ("perf-without-application", changed(VALID_STORAGE, "spec.metrics", [{"name": "perf-proc"}]), "spec.metrics[0].name", ["spec.application is not set"]),
    ("timing-without-application", changed(VALID_STORAGE, "spec.metrics", [{"name": "app-timing"}]), "spec.metrics[0].name", ["spec.application is not set"]),
    ("storage-metric-without-storage", changed(VALID_APPLICATION, "spec.metrics", [{"name": "io-fio"}]), "spec.metrics[0].name", ["spec.storage is not set"]),
    ("application-and-storage", changed(VALID_APPLICATION, "spec.storage", {"volume": {"hostPath": "/tmp"}}), "spec", ["not both"]),
    ("volume-two-sources", changed(VALID_STORAGE, "spec.storage.volume", {"hostPath": "/tmp", "claimName": "data"}), "spec.storage.volume", ["exactly one", "claimName, hostPath"]),
    ("volume-no-source", changed(VALID_STORAGE, "spec.storage.volume", {"path": "/data"}), "spec.storage.volume", ["exactly one", "none"]),
    ("volume-relative-path", changed(VALID_STORAGE, "spec.storage.volume.path", "data"), "spec.storage.volume.path", ["absolute path", "'data'"]),
    ("no-metrics", changed(VALID_APPLICATION, "spec.metrics", []), "spec.metrics", ["at least 1"]),
    ("missing-command", changed(VALID_APPLICATION, "spec.application.command", DELETE), "spec.application.command", ["Field required"]),
    ("unknown-spec-field", changed(VALID_APPLICATION, "spec.replicas", 3), "spec.replicas", ["unknown field 'replicas'", "known fields: pods"]),
    ("name-uppercase", changed(VALID_APPLICATION, "metadata.name", "MyRun"), "metadata.name", ["'MyRun'", "lowercase"]),
    ("name-too-long", changed(VALID_APPLICATION, "metadata.name", "a" * 41), "metadata.name", ["at most 40"]),
    ("duplicate-metric", changed(VALID_APPLICATION, "spec.metrics", [{"name": "perf-proc"}, {"name": "perf-proc"}]), "spec.metrics[1].name", ["listed twice"]),
    ("wrong-api-version", changed(VALID_APPLICATION, "apiVersion", "metrics-operator.io/v2"), "apiVersion", ["metrics-operator.io/v1alpha1"]),
    ("deadline-zero", changed(VALID_APPLICATION, "spec.deadlineSeconds", 0), "spec.deadlineSeconds", ["greater than or equal to 1"]),
]


@pytest.mark.parametrize(("document", "path", "words"), [case[1:] for case in INVALID_CASES], ids=[case[0] for case in INVALID_CASES])
def test_invalid_metricset_names_field(document, path, words):
    with pytest.raises(MetricSetInvalid) as raised:
        parse_metricset(document, "case.yaml")
    problems = raised.value.problems
    paths = [problem.path for problem in problems]
    assert path in paths, f"expected a problem at {path}, got {problems}"
    message = next(problem.message for problem in problems if problem.path == path)
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"
    assert "case.yaml" in str(raised.value)


def test_valid_examples_load_with_defaults():
    application = parse_metricset(copy.deepcopy(VALID_APPLICATION))
    storage = parse_metricset(copy.deepcopy(VALID_STORAGE))
    assert application.spec.pods == 1
    assert application.spec.sink.enabled is True
    assert application.spec.metrics[0].completions == 0
    assert application.metadata.namespace == "default"
    # Options come back complete, with each metric's defaults filled in.
    assert storage.spec.metrics[0].rate == 10
    assert storage.spec.metrics[0].options["rw"] == "randrw"
    assert storage.spec.metrics[0].options["blockSize"] == "4k"


def test_multi_document_file_loads_each():
    text = yaml.safe_dump_all([VALID_APPLICATION, VALID_STORAGE])
    metricsets = load_metricsets_text(text, "two.yaml")
    assert [metricset.metadata.name for metricset in metricsets] == ["app", "disk"]


def test_multi_document_error_names_document():
    text = yaml.safe_dump_all([VALID_APPLICATION, changed(VALID_STORAGE, "spec.metrics.0.rate", 0)])
    with pytest.raises(MetricSetInvalid) as raised:
        load_metricsets_text(text, "two.yaml")
    assert "document 2" in raised.value.source


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["empty"]),
        ("kind: [unclosed", ["not valid YAML"]),
        ("- just\n- a list\n", ["expected a mapping"]),
        ("kind: Pod\nmetadata: {name: x}\n", ["expected 'MetricSet'", "'Pod'"]),
    ],
    ids=["empty", "broken-yaml", "not-a-mapping", "other-kind"],
)
def test_unusable_documents_rejected(text, words):
    with pytest.raises(MetricSetInvalid) as raised:
        load_metricsets_text(text, "bad.yaml")
    for word in words:
        assert word in str(raised.value)


def test_registry_lists_core_metrics():
    metrics = all_metrics()
    for name in ("perf-proc", "app-timing", "io-fio"):
        assert name in metrics
    assert metrics["perf-proc"].needs_ptrace is True
    assert metrics["app-timing"].needs_ptrace is False
