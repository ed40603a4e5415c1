"""The generated MetricSet CRD: up to date, structural, and faithful to the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from metrics_operator.api.crd import IMMUTABLE_MESSAGE, SchemaError, custom_resource_definition, render_yaml, structural_schema
from metrics_operator.api.metricset import Metric
from metrics_operator.api.registry import all_metrics
from metrics_operator.cli.main import main

CRD_FILE = Path(__file__).resolve().parents[3] / "config" / "crd" / "metricsets.yaml"
UNSTRUCTURAL_KEYWORDS = ("$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title")


def walk(node: Any, path: str = ""):
    """Yield (path, node) for every schema node."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def schema() -> dict[str, Any]:
    return custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def spec_property(*names: str) -> dict[str, Any]:
    node = schema()["properties"]["spec"]
    for name in names:
        node = node["properties"][name] if "properties" in node else node[name]
    return node


def test_committed_crd_is_current() -> None:
    assert CRD_FILE.read_text() == render_yaml(), "config/crd/metricsets.yaml is stale: run `metrics-operator crd -o config/crd/metricsets.yaml`"


def test_crd_command_prints_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == custom_resource_definition()


def test_schema_has_no_unstructural_keywords() -> None:
    for path, node in walk(schema()):
        for keyword in UNSTRUCTURAL_KEYWORDS:
            assert keyword not in node, f"{keyword} at {path}"
        assert node.get("additionalProperties") is not False, f"additionalProperties: false at {path}"


def test_every_schema_node_has_a_type() -> None:
    properties_nodes = [node for path, node in walk(schema()) if path.endswith(".properties")]
    for properties in properties_nodes:
        for name, child in properties.items():
            has_type = "type" in child or child.get("x-kubernetes-int-or-string")
            assert has_type, f"property {name} has no type"


def test_metric_options_preserve_unknown_fields() -> None:
    options = spec_property("metrics", "items", "options")
    assert options["type"] == "object"
    assert options["x-kubernetes-preserve-unknown-fields"] is True


def test_metric_name_enum_lists_catalog() -> None:
    name = spec_property("metrics", "items", "name")
    assert name["enum"] == sorted(all_metrics())


def test_defaults_and_bounds_come_from_models() -> None:
    assert spec_property("pods")["default"] == 1
    assert spec_property("pods")["minimum"] == 1
    assert spec_property("pods")["maximum"] == 10000
    rate = spec_property("metrics", "items", "rate")
    model_rate = Metric.model_json_schema(by_alias=True)["properties"]["rate"]
    assert rate["maximum"] == model_rate["maximum"]
    assert rate["default"] == model_rate["default"]
    if "exclusiveMinimum" in model_rate:
        assert rate["minimum"] == model_rate["exclusiveMinimum"]
        assert rate["exclusiveMinimum"] is True
    else:
        assert rate["minimum"] == model_rate["minimum"]
        assert "exclusiveMinimum" not in rate
    assert spec_property("serviceName")["default"] == "ms"
    assert spec_property("sink", "enabled")["default"] is True


def test_optional_fields_collapse_to_their_type() -> None:
    deadline = spec_property("deadlineSeconds")
    assert deadline["type"] == "integer"
    assert deadline["minimum"] == 1
    assert "default" not in deadline
    assert "description" in deadline


def test_spec_rules_include_immutability() -> None:
    rules = schema()["properties"]["spec"]["x-kubernetes-validations"]
    assert {"rule": "self == oldSelf", "message": IMMUTABLE_MESSAGE} in rules


def test_volume_sources_rule_on_both_volume_kinds() -> None:
    storage_rules = spec_property("storage", "volume")["x-kubernetes-validations"]
    volume_rules = spec_property("application", "volumes", "additionalProperties")["x-kubernetes-validations"]
    assert "claimName" in storage_rules[0]["rule"]
    assert storage_rules == volume_rules


def test_status_subresource_columns_and_short_name() -> None:
    crd = custom_resource_definition()["spec"]
    version = crd["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [column["name"] for column in version["additionalPrinterColumns"]] == ["Phase", "Metrics", "Pods", "Age"]
    assert crd["names"]["shortNames"] == ["ms"]


def test_union_of_two_models_is_rejected() -> None:
    node = {"anyOf": [{"type": "object", "properties": {}}, {"type": "array", "items": {"type": "string"}}]}
    with pytest.raises(SchemaError, match="spec.example"):
        structural_schema(node, {}, "spec.example")
