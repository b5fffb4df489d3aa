"""The web gallery's listener, for `atelier web` and `atelier up`: the app on
ATELIER_WEB_HOST:ATELIER_WEB_PORT, its requests counted in the process's metrics and its
listener part of the process's readiness."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Histogram

from bot.config import Settings
from bot.health import Health
from bot.keys import Keys
from bot.web.app import Handler, make_app
from bot.web.links import links_from

PAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def _metrics(app: web.Application, health: Health) -> None:
    """`atelier_web_requests_total{status}` and `atelier_web_request_seconds`."""
    registry = health.metrics.registry
    requests = Counter(
        "atelier_web_requests_total", "Web gallery requests", ["status"], registry=registry
    )
    seconds = Histogram(
        "atelier_web_request_seconds",
        "Web gallery request time",
        buckets=PAGE_BUCKETS,
        registry=registry,
    )

    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        seconds.observe(time.perf_counter() - started)
        requests.labels(status=str(response.status)).inc()
        return response

    app.middlewares.insert(0, measure)


@asynccontextmanager
async def serve_web(
    settings: Settings,
    redis: Any,
    keys: Keys,
    *,
    health: Health | None = None,
    port: int | None = None,
) -> AsyncIterator[str]:
    """Serve the gallery for the duration of the block; yields its local address. A port
    that is taken raises OSError (the caller decides whether that is fatal)."""
    app = make_app(redis, links_from(settings, redis, keys), keys=keys)
    if health is not None:
        _metrics(app, health)
    runner = web.AppRunner(app, access_log=None)  # an access log would record signed links
    await runner.setup()
    listening = False
    try:
        site = web.TCPSite(runner, settings.web_host, settings.web_port if port is None else port)
        await site.start()
        listening = True
        if health is not None:
            health.ready_when(lambda: None if listening else "the web gallery is not listening")
        bound = runner.addresses[0][1]  # the port the system gave, when asked for 0
        host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
        yield f"http://{host}:{bound}"
    finally:
        listening = False
        await runner.cleanup()
