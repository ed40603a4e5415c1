"""``metrics-operator metrics``: list the metric catalog."""

from __future__ import annotations

import argparse

from rich.table import Table

from metrics_operator.api.registry import all_metrics
from metrics_operator.cli.render import console, write_json


def add_arguments(parser: argparse.ArgumentParser):
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: %(default)s)")
    return show


def option_rows(options_model) -> list[dict]:
    """Name, type, default and description of each option of a metric."""
    schema = options_model.model_json_schema(by_alias=True)
    rows = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or " | ".join(item.get("type", "?") for item in prop.get("anyOf", []))
        if "enum" in prop:
            kind = " | ".join(str(value) for value in prop["enum"])
        rows.append({"name": name, "type": kind, "default": prop.get("default"), "description": prop.get("description", "")})
    return rows


def show(arguments: argparse.Namespace) -> int:
    metrics = all_metrics()
    if arguments.format == "json":
        write_json(
            [
                {
                    "name": definition.name,
                    "family": definition.family.value,
                    "needs": definition.target.value,
                    "ptrace": definition.needs_ptrace,
                    "summary": definition.summary,
                    "options": option_rows(definition.options),
                    "fields": {name: {"unit": spec.unit, "description": spec.description} for name, spec in definition.fields.items()},
                }
                for definition in metrics.values()
            ]
        )
        return 0
    for definition in metrics.values():
        table = Table(title=f"{definition.name} ({definition.family.value}, needs {definition.target.value})", title_justify="left", caption=definition.summary, caption_justify="left")
        for column in ("option", "type", "default", "description"):
            table.add_column(column)
        for row in option_rows(definition.options):
            table.add_row(row["name"], row["type"], repr(row["default"]), row["description"])
        if not definition.options.model_fields:
            table.add_row("-", "-", "-", "no options")
        console.print(table)
    return 0
