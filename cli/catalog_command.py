"""``metrics-operator metrics``: list the metric catalog."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape
from rich.table import Table

from metrics_operator.api.options import option_rows
from metrics_operator.api.registry import all_metrics
from metrics_operator.cli.catalog_markdown import catalog_markdown
from metrics_operator.cli.render import console, write_json


def add_arguments(parser: argparse.ArgumentParser):
    parser.add_argument(
        "--format",
        choices=["table", "json", "markdown"],
        default="table",
        help="output format; markdown is the page in docs/metrics.md (default: %(default)s)",
    )
    return show


def show(arguments: argparse.Namespace) -> int:
    metrics = all_metrics()
    if arguments.format == "markdown":
        sys.stdout.write(catalog_markdown(metrics))
        return 0
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
            table.add_row(*(escape(text) for text in (row["name"], row["type"], repr(row["default"]), row["description"])))
        if not definition.options.model_fields:
            table.add_row("-", "-", "-", "no options")
        console.print(table)
    return 0
