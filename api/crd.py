"""Generate the MetricSet CustomResourceDefinition from the pydantic models.

The apiserver accepts only structural schemas: every node has a type, and there
is no ``$ref``, ``anyOf`` or ``oneOf``. Pydantic's JSON schema uses all three, so
``structural_schema`` inlines the references and collapses ``X | None`` to ``X``
(an unset optional field is simply absent in Kubernetes). What the JSON schema
cannot express (field validators, cross-field rules, immutability) is added here as
patterns and CEL rules (``x-kubernetes-validations``) that mirror the models.
"""

from __future__ import annotations

from typing import Any

import yaml

from metrics_operator.api.metricset import (
    GROUP,
    KIND,
    MAX_NAME_LENGTH,
    MIN_RATE_SECONDS,
    PLURAL,
    VERSION,
    MetricSetSpec,
    MetricSetStatus,
)
from metrics_operator.api.registry import Target, all_metrics

SINGULAR = "metricset"
SHORT_NAMES = ["ms"]
CATEGORIES = ["metrics-operator"]
CRD_NAME = f"{PLURAL}.{GROUP}"

DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
IMMUTABLE_MESSAGE = "spec is immutable: create a new MetricSet to measure again"

# Keywords of pydantic's JSON schema that a structural schema keeps as they are.
KEPT_KEYWORDS = (
    "type",
    "description",
    "default",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "required",
)

# Field validators of the models, which the JSON schema does not show, as schema
# keywords keyed by field path (a "*" matches any map key).
FIELD_RULES: dict[str, dict[str, Any]] = {
    "spec.serviceName": {"pattern": DNS_LABEL_PATTERN, "maxLength": 63},
    "spec.application.volumes.*.path": {"pattern": "^/"},
    "spec.storage.volume.path": {"pattern": "^/"},
    "spec.storage.volume.hostPath": {"pattern": "^/"},
    "spec.application.volumes.*.hostPath": {"pattern": "^/"},
    # The apiserver compares a whole-number value with int64(minimum), so "minimum: 0.1"
    # lets "rate: 0" through (checked on kube-apiserver v1.34.4); CEL compares as doubles.
    "spec.metrics[].rate": {
        "x-kubernetes-validations": [
            {"rule": f"double(self) >= {MIN_RATE_SECONDS}", "message": f"rate must be at least {MIN_RATE_SECONDS} seconds"}
        ]
    },
}


class SchemaError(ValueError):
    """Raised when a pydantic schema has a construct the CRD generator cannot flatten."""


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Return ``node`` with a top-level $ref replaced by its definition, keeping sibling keywords."""
    if "$ref" not in node:
        return node
    name = node["$ref"].rsplit("/", 1)[-1]
    merged = dict(definitions[name])
    merged.update({key: value for key, value in node.items() if key != "$ref"})
    return merged


def _collapse_optional(node: dict[str, Any], path: str) -> dict[str, Any]:
    """Turn ``anyOf: [X, {type: null}]`` into X, keeping the outer description."""
    if "anyOf" not in node:
        return node
    members = [member for member in node["anyOf"] if member.get("type") != "null"]
    types = {member.get("type") for member in members}
    outer = {key: value for key, value in node.items() if key != "anyOf"}
    if outer.get("default", 0) is None:
        del outer["default"]

    # Resource quantities are ints or strings ("500m", 2); Kubernetes has a keyword for that.
    if types <= {"string", "integer", "number"} and len(members) > 1:
        return {**outer, "x-kubernetes-int-or-string": True}
    if len(members) != 1:
        raise SchemaError(f"{path}: cannot flatten a union of {len(members)} types into a structural schema")
    return {**members[0], **outer}


def structural_schema(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    """Convert one pydantic JSON schema node (and its children) into a structural schema node."""
    node = _collapse_optional(_resolve(node, definitions), path)
    node = _resolve(node, definitions)
    if "oneOf" in node or "allOf" in node:
        raise SchemaError(f"{path}: oneOf/allOf cannot be expressed in a structural schema")

    result = {key: node[key] for key in KEPT_KEYWORDS if key in node}
    if "x-kubernetes-int-or-string" in node:
        result["x-kubernetes-int-or-string"] = True
        result.pop("type", None)

    # Draft 2020-12 writes exclusiveMinimum as a number; OpenAPI v3.0 as a flag on minimum.
    if "exclusiveMinimum" in node:
        result["minimum"] = node["exclusiveMinimum"]
        result["exclusiveMinimum"] = True
    if "enum" in node and "type" not in result:
        result["type"] = "string"

    if "properties" in node:
        result["type"] = "object"
        result["properties"] = {
            name: structural_schema(child, definitions, f"{path}.{name}") for name, child in node["properties"].items()
        }
        for name, child in result["properties"].items():
            _default_empty_object(child, required=name in node.get("required", ()))
    elif isinstance(node.get("additionalProperties"), dict):
        result["additionalProperties"] = structural_schema(node["additionalProperties"], definitions, f"{path}.*")
    elif node.get("type") == "object":
        # A free-form object (metric options): the controller validates it with the metric's own model.
        result["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in node:
        result["items"] = structural_schema(node["items"], definitions, f"{path}[]")

    result.update(FIELD_RULES.get(path, {}))
    return result


def _default_empty_object(node: dict[str, Any], *, required: bool) -> None:
    """Default an optional object whose fields have defaults to {}, so the apiserver fills them in.

    Pydantic writes no default for a ``default_factory`` model field (spec.sink),
    and the apiserver applies nested defaults only inside objects that exist.
    """
    children = node.get("properties") or {}
    if required or "default" in node or not any("default" in child for child in children.values()):
        return
    node["default"] = {}


def _model_schema(model: type, path: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return structural_schema(schema, schema.get("$defs", {}), path)


def _metric_names(target: Target) -> list[str]:
    return sorted(name for name, definition in all_metrics().items() if definition.target is target)


def _cel_list(names: list[str]) -> str:
    return "[" + ", ".join(f"'{name}'" for name in names) + "]"


def _spec_rules() -> list[dict[str, str]]:
    """CEL rules for the cross-field checks of MetricSetSpec."""
    rules = [
        {"rule": "self == oldSelf", "message": IMMUTABLE_MESSAGE},
        {
            "rule": "!(has(self.application) && has(self.storage))",
            "message": "a MetricSet measures an application or a storage volume, not both: "
            "remove spec.application or spec.storage, or split it into two MetricSets",
        },
        {
            "rule": "self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",
            "message": "a metric is listed twice in spec.metrics: list each metric once",
        },
    ]
    needs = [
        (Target.APPLICATION, "application", "measure an application, so spec.application must be set"),
        (Target.STORAGE, "storage", "measure storage, so spec.storage.volume must be set"),
    ]
    for target, field, reason in needs:
        names = _metric_names(target)
        if names:
            rules.append(
                {
                    "rule": f"has(self.{field}) || !self.metrics.exists(m, m.name in {_cel_list(names)})",
                    "message": f"metrics {', '.join(names)} {reason}",
                }
            )
    return rules


VOLUME_SOURCE_RULE = {
    "rule": "(has(self.claimName) ? 1 : 0) + (has(self.hostPath) ? 1 : 0) + "
    "(has(self.configMapName) ? 1 : 0) + (has(self.secretName) ? 1 : 0) == 1",
    "message": "a volume needs exactly one of claimName, hostPath, configMapName or secretName",
}


def _add_volume_rules(spec: dict[str, Any]) -> None:
    properties = spec["properties"]
    properties["storage"]["properties"]["volume"]["x-kubernetes-validations"] = [VOLUME_SOURCE_RULE]
    volumes = properties["application"]["properties"]["volumes"]
    volumes["additionalProperties"]["x-kubernetes-validations"] = [VOLUME_SOURCE_RULE]
    volumes["x-kubernetes-validations"] = [
        {
            "rule": f"self.all(name, name.matches('{DNS_LABEL_PATTERN}') && name.size() <= 63)",
            "message": "volume names must be DNS labels: lowercase letters, digits and '-'",
        }
    ]


def _restrict_metric_names(spec: dict[str, Any]) -> None:
    metrics = spec["properties"]["metrics"]
    names = sorted(all_metrics())
    name = metrics["items"]["properties"]["name"]
    name["enum"] = names
    # Bounds the CEL cost estimate. Neither is a new limit: names come from the
    # catalog and a metric may be listed only once.
    name["maxLength"] = max(len(value) for value in names)
    metrics["maxItems"] = len(names)


def spec_schema() -> dict[str, Any]:
    """Return the structural schema of MetricSet.spec, with its CEL rules."""
    spec = _model_schema(MetricSetSpec, "spec")
    _restrict_metric_names(spec)
    _add_volume_rules(spec)
    spec["x-kubernetes-validations"] = _spec_rules()
    return spec


def status_schema() -> dict[str, Any]:
    """Return the structural schema of MetricSet.status."""
    return _model_schema(MetricSetStatus, "status")


def openapi_schema() -> dict[str, Any]:
    """Return the whole openAPIV3Schema of the MetricSet resource."""
    return {
        "type": "object",
        "description": "A request to measure an application, a storage volume or the network. "
        "The operator runs it as a JobSet and stores the results in the namespace's sink.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {MAX_NAME_LENGTH} && "
                f"self.metadata.name.matches('{DNS_LABEL_PATTERN}')",
                "message": f"metadata.name must be a DNS label of at most {MAX_NAME_LENGTH} characters "
                "(lowercase letters, digits and '-'), because the JobSet and pod names are derived from it",
            }
        ],
    }


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Metrics", "type": "string", "jsonPath": ".spec.metrics[*].name"},
    {"name": "Pods", "type": "integer", "jsonPath": ".spec.pods"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def custom_resource_definition() -> dict[str, Any]:
    """Return the MetricSet CustomResourceDefinition as a dict."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    """A YAML dumper that writes repeated rules out in full, because anchors confuse readers of a CRD."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


HEADER = "# Generated by `metrics-operator crd` from the models in api/metricset.py; do not edit.\n"


def render_yaml() -> str:
    """Return the CRD as the YAML text committed in config/crd/."""
    return HEADER + yaml.dump(custom_resource_definition(), Dumper=_NoAliasDumper, sort_keys=False, width=100)
