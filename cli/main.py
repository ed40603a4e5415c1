"""Entry point of the ``metrics-operator`` command: one subcommand per job."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys
from collections.abc import Callable

from metrics_operator.cli import catalog_command, controller_command, crd_command, local_command, results_command, sink_command

# Each module adds its subcommand's arguments and returns the function that runs it.
SUBCOMMANDS: list[tuple[str, str, Callable]] = [
    ("local", "run a MetricSet on this machine, without a cluster", local_command.add_arguments),
    ("results", "show runs and summaries stored in a DuckDB file", results_command.add_arguments),
    ("metrics", "list the metric catalog with each metric's options", catalog_command.add_arguments),
    ("sink", "serve the HTTP API that stores pushed results in DuckDB", sink_command.add_arguments),
    ("controller", "run the operator that turns MetricSets into JobSets", controller_command.add_arguments),
    ("crd", "print the MetricSet CustomResourceDefinition generated from the models", crd_command.add_arguments),
]


def _version() -> str:
    try:
        return importlib.metadata.version("metrics-operator")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metrics-operator",
        description="Measure applications, storage and networks described by MetricSet resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary, add_arguments in SUBCOMMANDS:
        subparser = subparsers.add_parser(name, help=summary, description=summary)
        subparser.set_defaults(handler=add_arguments(subparser))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(arguments.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(arguments.handler(arguments) or 0)
    except BrokenPipeError:
        # The reader went away (``... | head``); the rest of the output is not wanted.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
