"""The sink's aiohttp application: routes, middleware and the database's lifetime.

Metric containers in a namespace push runs, samples and results here; users query
them under /v1 and Prometheus scrapes /metrics. See docs/sink.md for the API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from metrics_operator.sink import ingest, openapi, queries
from metrics_operator.sink.auth import check_bearer, is_protected
from metrics_operator.sink.database import Database
from metrics_operator.sink.errors import ApiError, from_http_exception
from metrics_operator.sink.exporter import SinkMetrics
from metrics_operator.sink.state import STATE, SinkConfig, SinkState, state_of

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/runs", queries.list_runs),
    ("POST", "/v1/runs", ingest.post_run),
    ("GET", "/v1/runs/{uid}", queries.get_run),
    ("GET", "/v1/runs/{uid}/summary", queries.get_summary),
    ("GET", "/v1/runs/{uid}/samples", queries.get_samples),
    ("POST", "/v1/runs/{uid}/samples", ingest.post_samples),
    ("GET", "/v1/runs/{uid}/results", queries.get_results),
    ("POST", "/v1/runs/{uid}/results", ingest.post_results),
]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the token on /v1 routes and turn every failure into a JSON error response."""
    state = state_of(request)
    try:
        if state.config.token is not None and is_protected(request.path):
            check_bearer(request.headers.get("Authorization"), state.config.token)
        return await handler(request)
    except ApiError as error:
        failure = error
    except web.HTTPException as error:
        if error.status < 400:
            raise
        failure = from_http_exception(request, error)
    except Exception:
        log.exception("request %s %s (run %s) failed", request.method, request.path, request.match_info.get("uid", "-"))
        failure = ApiError(500, "internal_error", "internal error in the sink; see its log")

    if failure.status < 500:
        if request.method == "POST":
            state.metrics.batches_rejected.labels(failure.reason).inc()
        state.rejections.record(request, failure)
    return failure.response()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Report ready once a read of the database succeeds."""
    try:
        await state_of(request).db.read(lambda reader: reader.connection.execute("SELECT 1").fetchone())
    except Exception as error:  # noqa: BLE001 - any failure means not ready, and is reported
        log.error("readiness check failed: %s", error)
        raise ApiError(503, "not_ready", f"database cannot be read: {error}") from None
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Render the Prometheus exposition in a worker thread, because it reads DuckDB."""
    body = await asyncio.to_thread(state_of(request).metrics.render)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def create_app(config: SinkConfig) -> web.Application:
    """Build the sink application; the database opens when the app starts and closes when it stops."""
    # Bodies past the limit are cut off by aiohttp; ingest turns that into a JSON 413.
    app = web.Application(middlewares=[errors_middleware], client_max_size=config.max_body_bytes)
    state = SinkState(config=config, metrics=SinkMetrics())
    app[STATE] = state
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi.get_openapi)
    app.cleanup_ctx.append(_database_lifetime)
    return app


async def _database_lifetime(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    state.database = await asyncio.to_thread(Database, state.config.db_path)
    state.metrics.watch(state.database, state.config.max_metricsets)
    yield
    await asyncio.to_thread(state.database.close)


async def serve(config: SinkConfig, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set; log the bound address (useful with port 0)."""
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    for address in runner.addresses:
        log.info("sink listening on http://%s:%d with database %s", address[0], address[1], config.db_path)
    try:
        await stop.wait()
    finally:
        log.info("sink stopping")
        await runner.cleanup()
