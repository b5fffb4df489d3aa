"""The Slack app: Bolt's AsyncApp wired to the front desk, served over HTTP (signed requests at
/slack/events) or Socket Mode, next to the loop that delivers results.

The Web API client is built here with ATELIER_SLACK_API_URL as its base (slack_sdk reads no
environment variable for it) and retries 429 answers after their Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import actions, brainstorm, commands, community
from adapters.slack.context import ROUTE, SlackDeps
from adapters.slack.delivery import Delivery
from adapters.slack.http import BodyGuard
from adapters.slack.http import web_app as guarded_web_app
from bot.config import Settings
from bot.desk.front_desk import FrontDesk
from bot.errors import ConfigError
from bot.health import Health
from bot.metrics import Metrics
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from bot.queue.watchdog import Watchdog
from bot.web.links import links_from

EVENTS_PATH = "/slack/events"
RATE_LIMIT_RETRIES = 3
log = logging.getLogger(__name__)


class CountedRateLimits(AsyncRateLimitErrorRetryHandler):
    """Waits out a 429 after its Retry-After, as the stock handler does, and counts it."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    async def _can_retry_async(self, **kwargs: Any) -> bool:
        limited = await super()._can_retry_async(**kwargs)
        if limited:
            self.metrics.platform_rate_limited("slack")
        return limited


def web_client(settings: Settings, metrics: Metrics | None = None) -> AsyncWebClient:
    if settings.slack_bot_token is None:
        raise ConfigError("atelier slack needs SLACK_BOT_TOKEN (the app's xoxb- bot token).")
    kwargs: dict[str, Any] = {"token": settings.slack_bot_token.get_secret_value()}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url.rstrip("/") + "/"
    client = AsyncWebClient(**kwargs)
    client.retry_handlers.append(
        CountedRateLimits(metrics or Metrics(), max_retry_count=RATE_LIMIT_RETRIES)
    )
    client.retry_handlers.append(AsyncConnectionErrorRetryHandler(max_retry_count=2))
    return client


def build_app(settings: Settings, deps: SlackDeps, *, socket_mode: bool) -> AsyncApp:
    secret = settings.slack_signing_secret
    if secret is None and not socket_mode:
        raise ConfigError(
            "HTTP mode needs SLACK_SIGNING_SECRET (the app's signing secret) to verify that "
            "requests come from Slack; or set SLACK_APP_TOKEN for Socket Mode."
        )
    app = AsyncApp(
        client=deps.client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=not socket_mode,
        name="atelier",
    )
    commands.register(app, deps)
    actions.register(app, deps)
    brainstorm.register(app, deps)
    community.register(app, deps)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # One handler for the adapter: the payload type, never its tokens or text.
        log.error("listener failed on a %s request: %r", body.get("type", "command"), error)

    return app


async def serve(
    settings: Settings,
    queue: JobQueue,
    *,
    port: int | None,
    stop: asyncio.Event,
    health: Health | None = None,
) -> int:
    """Run the Slack adapter until `stop` is set; then post the results in hand and return."""
    socket_mode = settings.slack_app_token is not None
    if not socket_mode and port is None:
        raise ConfigError("Give --port for HTTP mode, or set SLACK_APP_TOKEN for Socket Mode.")
    desk = FrontDesk(queue, web=links_from(settings, queue.redis, queue.keys))
    metrics = health.metrics if health else Metrics()
    deps = SlackDeps(
        desk,
        web_client(settings, metrics),
        job_ttl_s=settings.job_ttl_s,
        reconnect_s=settings.redis_reconnect_s,
    )
    connected = asyncio.Event()
    if health is not None:
        mode = "Socket Mode connection" if socket_mode else "HTTP listener"
        health.ready_when(
            lambda: None if connected.is_set() and not stop.is_set() else f"Slack {mode} not up"
        )
    app = build_app(settings, deps, socket_mode=socket_mode)
    inbox = ResultInbox(
        queue.redis,
        ROUTE,
        settings.consumer_name("slack"),
        keys=queue.keys,
        ttl_s=settings.job_ttl_s,
    )
    delivery = Delivery(deps, inbox, metrics)
    delivering = asyncio.create_task(delivery.run())
    watching = asyncio.create_task(Watchdog(queue, ROUTE).run(stop))
    scheduler = community.Scheduler(deps)
    scheduling = asyncio.create_task(scheduler.run())
    try:
        if socket_mode:
            await _socket_mode(app, settings, deps, stop, connected)
        else:
            assert port is not None
            await _http(app, settings, port, stop, connected)
    finally:
        delivery.stop()
        watching.cancel()
        scheduler.stop()
        for task in (delivering, scheduling):
            try:
                await asyncio.wait_for(task, timeout=5)
            except TimeoutError:
                task.cancel()
    return 0


async def _http(
    app: AsyncApp, settings: Settings, port: int, stop: asyncio.Event, connected: asyncio.Event
) -> None:
    guard = BodyGuard(settings.slack_body_timeout_s, settings.slack_max_slow_bodies)
    # lingering_time=0: a connection whose body was refused is closed, not drained for 10 s.
    runner = web.AppRunner(guarded_web_app(app, EVENTS_PATH, guard), lingering_time=0)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    log.info("Slack adapter listening on port %d at %s (HTTP mode)", port, EVENTS_PATH)
    connected.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def _socket_mode(
    app: AsyncApp,
    settings: Settings,
    deps: SlackDeps,
    stop: asyncio.Event,
    connected: asyncio.Event,
) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    assert settings.slack_app_token is not None
    handler = AsyncSocketModeHandler(
        app, settings.slack_app_token.get_secret_value(), web_client=deps.client
    )
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("Slack adapter connected (Socket Mode)")
    connected.set()
    try:
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
