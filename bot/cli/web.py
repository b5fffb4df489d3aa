"""`atelier web`: the web gallery against a shared Redis, with health and metrics like every
other process (part of the CLI, the composition root)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from bot.cli.run import on_signals, run
from bot.config import Settings
from bot.connections import check_redis, connect, make_queue
from bot.health import serve_health
from bot.web.server import serve_web


def web(
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Listen on this port (default ATELIER_WEB_PORT)."),
    ] = None,
) -> None:
    """The web gallery: the pages `/gallery web` links to (needs ATELIER_REDIS_URL)."""

    async def body(settings: Settings) -> int:
        redis = connect(settings, embedded_ok=False, what="atelier web")
        try:
            await check_redis(settings)
            queue = make_queue(redis, settings)
            stop = asyncio.Event()
            on_signals(stop.set)
            async with (
                serve_health(settings, queue) as health,
                serve_web(settings, redis, queue.keys, health=health, port=port) as address,
            ):
                typer.echo(f"Atelier's web gallery is at {address}", err=True)
                await stop.wait()
        finally:
            await redis.aclose()
        return 0

    run(body)


async def web_for_up(settings: Settings, redis: Any, keys: Any, health: Any) -> Any:
    """`atelier up`'s gallery: started beside the rest when ATELIER_WEB_PORT is not 0; a port
    already taken is reported, not fatal. Returns the context to close (or None)."""
    if not settings.web_port:
        return None
    served = serve_web(settings, redis, keys, health=health)
    try:
        address = await served.__aenter__()
    except OSError as exc:
        typer.echo(
            f"The web gallery did not start on port {settings.web_port} ({exc.strerror or exc}): "
            "set ATELIER_WEB_PORT to a free port, or 0 to turn it off.",
            err=True,
        )
        return None
    typer.echo(f"Atelier's web gallery is at {address} (links: /gallery web)", err=True)
    return served
