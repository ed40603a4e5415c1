"""``metrics-operator crd``: print the MetricSet CustomResourceDefinition generated from the models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metrics_operator.api.crd import render_yaml


def add_arguments(parser: argparse.ArgumentParser):
    parser.add_argument(
        "--output", "-o", type=Path, help="write the YAML to this file instead of standard output"
    )
    return show


def show(arguments: argparse.Namespace) -> int:
    text = render_yaml()
    if arguments.output is None:
        sys.stdout.write(text)
    else:
        arguments.output.write_text(text)
    return 0
