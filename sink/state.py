"""Settings of a sink instance and the state its request handlers share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from metrics_operator.sink.database import Database
from metrics_operator.sink.errors import RejectionLog
from metrics_operator.sink.exporter import DEFAULT_MAX_METRICSETS, SinkMetrics

# A 100,000-row batch is about 10 MB as JSON; the push client sends 5,000-row batches.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class SinkConfig:
    """Settings of one sink: its database file, bearer token and request limits."""

    db_path: Path
    # None leaves /v1 open; the command line allows that only on a loopback address.
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_metricsets: int = DEFAULT_MAX_METRICSETS


@dataclass
class SinkState:
    """Everything the handlers of one app instance share."""

    config: SinkConfig
    metrics: SinkMetrics
    rejections: RejectionLog = field(default_factory=RejectionLog)
    database: Database | None = None

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("the sink's database is not open yet")
        return self.database


STATE = web.AppKey("sink_state", SinkState)


def state_of(request: web.Request) -> SinkState:
    return request.app[STATE]
