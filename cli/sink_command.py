"""``metrics-operator sink``: serve the HTTP API that stores pushed results in DuckDB."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
from pathlib import Path

from metrics_operator.cli.render import error_console
from metrics_operator.sink.app import serve
from metrics_operator.sink.auth import TokenFileError, read_token
from metrics_operator.sink.exporter import DEFAULT_MAX_METRICSETS
from metrics_operator.sink.state import DEFAULT_MAX_BATCH_ROWS, DEFAULT_MAX_BODY_BYTES, SinkConfig

log = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def add_arguments(parser: argparse.ArgumentParser):
    parser.add_argument("--db", type=Path, required=True, help="DuckDB file to store results in (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port to listen on; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--token-file",
        type=Path,
        help="file holding the bearer token required on /v1 routes; without it /v1 is open, "
        "which is allowed on a loopback address only",
    )
    parser.add_argument(
        "--max-body-bytes", type=_positive_int, default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body accepted, in bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--max-batch-rows", type=_positive_int, default=DEFAULT_MAX_BATCH_ROWS,
        help="most sample rows or results in one batch (default: %(default)s)",
    )
    parser.add_argument(
        "--max-metricsets", type=_positive_int, default=DEFAULT_MAX_METRICSETS,
        help="most MetricSets whose latest run /metrics exports (default: %(default)s)",
    )
    return run


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(arguments: argparse.Namespace) -> int:
    token = None
    if arguments.token_file is not None:
        try:
            token = read_token(arguments.token_file)
        except TokenFileError as error:
            error_console.print(f"[red]error:[/red] {error}", highlight=False)
            return 2
    elif not _is_loopback(arguments.host):
        error_console.print(
            f"[red]error:[/red] --host {arguments.host} without --token-file would serve /v1 to the network "
            "without authentication: pass --token-file, or listen on 127.0.0.1",
            highlight=False,
        )
        return 2

    # A service logs its starts, stops and rejected requests without -v.
    if arguments.verbose == 0:
        logging.getLogger().setLevel(logging.INFO)
    config = SinkConfig(
        db_path=arguments.db,
        token=token,
        max_body_bytes=arguments.max_body_bytes,
        max_batch_rows=arguments.max_batch_rows,
        max_metricsets=arguments.max_metricsets,
    )
    asyncio.run(_serve_until_signal(config, arguments.host, arguments.port))
    return 0


async def _serve_until_signal(config: SinkConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    await serve(config, host, port, stop)
