"""``metrics-operator results``: list stored runs, or show one run's summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
from rich.markup import escape
from rich.table import Table

from metrics_operator.cli.render import console, format_time, print_error, summary_table, unit_of, write_csv, write_json
from metrics_operator.sink.store import SUMMARY_STATISTICS, Run, Store


def add_arguments(parser: argparse.ArgumentParser):
    parser.add_argument("run", nargs="?", help="uid of one run (a unique prefix is enough); all runs if omitted")
    parser.add_argument("--db", type=Path, default=Path("metrics.duckdb"), help="DuckDB file to read (default: %(default)s)")
    parser.add_argument("--format", choices=["table", "json", "csv"], default="table", help="output format (default: %(default)s)")
    return show


def show(arguments: argparse.Namespace) -> int:
    if not arguments.db.exists():
        print_error(f"database {arguments.db} not found: pass --db with the file local mode wrote")
        return 2
    try:
        store = Store(arguments.db, read_only=True)
    except duckdb.Error as error:
        print_error(f"cannot open {arguments.db}: {error}")
        if "lock" in str(error).lower():
            print_error("a local run is writing to it: wait for the run to finish")
        return 2
    with store:
        runs = store.list_runs()
        if arguments.run:
            runs = [run for run in runs if run.uid.startswith(arguments.run)]
            if len(runs) != 1:
                if runs:
                    print_error(f"{len(runs)} runs match {arguments.run!r}: give more of the uid")
                else:
                    print_error(f"no run matches {arguments.run!r}: list the runs with: results --db {arguments.db}")
                return 2
        summaries = {run.uid: store.summary(run.uid) for run in runs}
        results = {run.uid: store.results(run.uid) for run in runs} if arguments.run else {}

    if arguments.format == "json":
        write_json(
            [
                {**run.to_dict(), "summary": summaries[run.uid], **({"results": results[run.uid]} if results else {})}
                for run in runs
            ]
        )
    elif arguments.format == "csv":
        # A run without samples (one that failed early) still gets a line, with empty statistics.
        rows = [
            {"run": run.uid, "namespace": run.namespace, "name": run.name, "status": run.status, **row,
             "unit": unit_of(row["metric"], row["field"])}
            for run in runs
            for row in summaries[run.uid] or [{"metric": "", "series": "", "field": ""}]
        ]
        write_csv(rows, ["run", "namespace", "name", "status", "metric", "series", "field", "unit", *SUMMARY_STATISTICS])
    elif arguments.run:
        run = runs[0]
        console.print(_runs_table([run]))
        console.print(summary_table(summaries[run.uid], "summary"))
    else:
        console.print(_runs_table(runs))
    return 0


def _runs_table(runs: list[Run]) -> Table:
    table = Table(title="runs", title_justify="left")
    for column in ("uid", "metricset", "status", "started", "ended", "message"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.uid, f"{run.namespace}/{run.name}", run.status, format_time(run.started_at), format_time(run.ended_at), escape(run.message or "")
        )
    return table
