"""HTTP endpoints of the controller: /healthz (the process runs), /readyz (caches synced), /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from metrics_operator.controller.runtime.metrics import ControllerMetrics

log = logging.getLogger(__name__)


def build_app(metrics: ControllerMetrics, is_ready: Callable[[], bool]) -> web.Application:
    """Return the aiohttp application serving the three endpoints."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if is_ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="caches not synced yet\n")

    async def metrics_handler(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    return app


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app``; returns the runner to clean up on shutdown."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("serving /healthz, /readyz and /metrics on %s:%d", host, port)
    return runner
