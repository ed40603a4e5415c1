"""Tables and machine-readable output shared by the subcommands."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from metrics_operator.api.registry import all_metrics

# Tables are wide; when output goes to a file or pipe, rich would otherwise wrap them at 80 columns.
console = Console(width=None if Console().is_terminal else 160)
error_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)

BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def print_error(message: str) -> None:
    """Print one error line; the message is plain text, never rich markup."""
    error_console.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def print_warning(message: str) -> None:
    error_console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


def format_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_number(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def format_value(value: float | int | None, unit: str) -> str:
    """Format a number for people: bytes in binary units, everything else with a few digits."""
    if value is not None and unit.startswith("bits"):
        return _format_bits(float(value), unit[len("bits") :])
    if value is None or not unit.startswith("bytes"):
        return format_number(value)
    scaled = float(value)
    for prefix in BYTE_UNITS:
        if abs(scaled) < 1024 or prefix == BYTE_UNITS[-1]:
            break
        scaled /= 1024
    suffix = unit[len("bytes") :]
    return f"{scaled:.1f} {prefix}{suffix}" if prefix != "B" else f"{scaled:.0f} B{suffix}"


def _format_bits(value: float, suffix: str) -> str:
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}bit{suffix}"
    return f"{value:.0f} bit{suffix}"


def unit_of(metric: str, field: str) -> str:
    definition = all_metrics().get(metric)
    spec = definition.fields.get(field) if definition else None
    return spec.unit if spec else ""


def summary_table(rows: list[dict[str, Any]], title: str) -> Table:
    """Build a table of min, mean, max and p95 per metric field (and series, where a metric has several)."""
    table = Table(title=title, title_justify="left")
    # Most metrics store one series, "total", so the column is shown only when another appears.
    show_series = any(row.get("series", "total") != "total" for row in rows)
    for column in ("metric", "series", "field", "unit") if show_series else ("metric", "field", "unit"):
        table.add_column(column)
    for column in ("count", "min", "mean", "max", "p95"):
        table.add_column(column, justify="right")
    for row in rows:
        unit = unit_of(row["metric"], row["field"])
        names = [row["metric"], row.get("series", "total"), row["field"]] if show_series else [row["metric"], row["field"]]
        table.add_row(
            *(escape(name) for name in names),
            unit,
            format_number(row["count"]),
            *(format_value(row[statistic], unit) for statistic in ("min", "mean", "max", "p95")),
        )
    return table


def write_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def write_csv(rows: list[dict[str, Any]], columns: list[str]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
