"""Describe a metric's options from its pydantic model: types, defaults and accepted values.

The same descriptions appear in ``docs/metrics.md``, in ``metrics-operator metrics`` and
in the error for an invalid option, so a user reads one wording everywhere.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# JSON schema keywords for bounds, and how each reads.
BOUND_WORDS = [
    ("minimum", ">="),
    ("exclusiveMinimum", ">"),
    ("maximum", "<="),
    ("exclusiveMaximum", "<"),
    ("minLength", "length >="),
    ("maxLength", "length <="),
    ("minItems", "items >="),
    ("maxItems", "items <="),
]


def _variants(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the schemas of a property's alternatives (``int | None`` has two), without null."""
    variants = prop.get("anyOf") or [prop]
    return [variant for variant in variants if variant.get("type") != "null"]


def option_type(prop: dict[str, Any]) -> str:
    """Name the JSON type of one option, such as integer, string or list of string."""
    names = []
    for variant in _variants(prop):
        if variant.get("type") == "array":
            names.append(f"list of {option_type(variant.get('items', {}))}")
        else:
            names.append(variant.get("type", "any"))
    if "null" in [variant.get("type") for variant in prop.get("anyOf", [])]:
        names.append("null")
    return " or ".join(names)


def option_bounds(prop: dict[str, Any]) -> str:
    """Describe the accepted range or pattern of one option, or return '' if anything of its type goes."""
    parts = []
    for variant in _variants(prop):
        for keyword, word in BOUND_WORDS:
            if keyword in variant:
                parts.append(f"{word} {variant[keyword]}")
        if "pattern" in variant:
            parts.append(f"matches {variant['pattern']}")
        if "enum" in variant:
            parts.append("one of " + ", ".join(str(value) for value in variant["enum"]))
        items = variant.get("items") or {}
        if "enum" in items:
            parts.append("each one of " + ", ".join(str(value) for value in items["enum"]))
    return ", ".join(parts)


def option_rows(options_model: type[BaseModel]) -> list[dict[str, Any]]:
    """List the name, type, default, accepted values and description of each option."""
    schema = options_model.model_json_schema(by_alias=True)
    rows = []
    for name, prop in schema.get("properties", {}).items():
        rows.append(
            {
                "name": name,
                "type": option_type(prop),
                "default": prop.get("default"),
                "bounds": option_bounds(prop),
                "description": prop.get("description", ""),
            }
        )
    return rows


def accepted_values(options_model: type[BaseModel], option: str) -> str:
    """Describe what ``option`` accepts, for error messages; '' for an unknown option."""
    prop = options_model.model_json_schema(by_alias=True).get("properties", {}).get(option)
    if prop is None:
        return ""
    bounds = option_bounds(prop)
    return f"{option_type(prop)}, {bounds}" if bounds else option_type(prop)
