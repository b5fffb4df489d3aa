"""`atelier discord`: the client, its slash commands and buttons, and the result delivery.

discord.py has no setting for its hosts: every REST URL starts with `Route.BASE`, and a
plain client opens `DiscordWebSocket.DEFAULT_GATEWAY`. Pointing those at
ATELIER_DISCORD_API_BASE / ATELIER_DISCORD_GATEWAY_URL is how a REST or gateway proxy (or
a loopback test server) is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.config import Settings
from bot.desk.front_desk import FrontDesk
from bot.errors import ConfigError
from bot.health import Health
from bot.metrics import Metrics
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from bot.queue.watchdog import Watchdog
from bot.web.links import links_from

from .commands import build_commands
from .delivery import Delivery
from .handlers import Handlers
from .logs import hide_secrets
from .messages import NO_MENTIONS
from .origins import ROUTE
from .replies import ReplyStore
from .schedule import Scheduler
from .threads import Threads
from .views import ActionButton, CommunityButton

log = logging.getLogger(__name__)
DRAIN_S = 10.0  # on SIGTERM, how long the results in hand may take to post

if TYPE_CHECKING:  # the mixin below is only ever mixed into a discord.Client
    _ClientBase = discord.Client
else:
    _ClientBase = object


def quiet_voice_warnings() -> None:
    """Atelier never joins voice channels: no warning about voice libraries."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def point_at(api_base: str | None, gateway_url: str | None) -> None:
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class DiscordAdapter:
    """Everything the adapter wires together, built once per process."""

    def __init__(self, settings: Settings, queue: JobQueue, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.queue = queue
        self.metrics = metrics or Metrics()
        self.replies = ReplyStore(queue.redis, queue.keys, token_ttl_s=settings.discord_token_ttl_s)
        web = links_from(settings, queue.redis, queue.keys)
        self.handlers = Handlers(
            FrontDesk(queue, web=web), self.replies, reconnect_s=settings.redis_reconnect_s
        )
        self.threads = Threads(self.handlers.desk, read_all=settings.discord_message_content)
        self.handlers.threads = self.threads
        self._delivery: asyncio.Task[None] | None = None
        self._deliverer: Delivery | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None

    def client(self) -> discord.Client:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True  # replies in a poem's thread (text: see threads.py)
        intents.message_content = self.settings.discord_message_content
        options: dict[str, Any] = {"intents": intents, "allowed_mentions": NO_MENTIONS}
        shards = self.settings.discord_shards
        try:
            shard_ids = self.settings.shard_ids()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if shard_ids is None and shards in (None, "1"):
            return AtelierClient(self, **options)
        if shard_ids is not None:  # one replica of several: only its own shards
            if shards in (None, "auto") or any(n >= int(shards or 0) for n in shard_ids):
                raise ConfigError(
                    "ATELIER_DISCORD_SHARD_IDS needs ATELIER_DISCORD_SHARDS set to the total "
                    "count, with every id below it (ids 0,2 of ATELIER_DISCORD_SHARDS=4)."
                )
            options["shard_ids"] = shard_ids
        if shards != "auto":  # a fixed count; "auto" asks Discord how many it recommends
            options["shard_count"] = int(shards or 1)
        return AtelierShardedClient(self, **options)

    async def setup(self, client: discord.Client, tree: app_commands.CommandTree[Any]) -> None:
        """After login, before the gateway: commands, buttons, sync, delivery."""
        for command in build_commands(self.handlers.slash):
            tree.add_command(command)
        tree.error(self._command_error)
        client.add_dynamic_items(ActionButton, CommunityButton)
        guild_id = self.settings.discord_guild_id
        if guild_id:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild_id)
        else:
            synced = await tree.sync()
            log.info("synced %d global commands", len(synced))
        inbox = ResultInbox(
            self.queue.redis,
            ROUTE,
            self.settings.consumer_name("discord"),
            keys=self.queue.keys,
            ttl_s=self.settings.job_ttl_s,
        )
        self._deliverer = Delivery(client, inbox, self.replies, metrics=self.metrics)
        self._delivery = asyncio.create_task(self._deliverer.run())
        self._watchdog = asyncio.create_task(Watchdog(self.queue, ROUTE).run())
        self._scheduler = asyncio.create_task(Scheduler(client, self.handlers.desk).run())

    async def close(self) -> None:
        # The results in hand are posted before the connection closes; nothing read is lost
        # either way (unacked results are read again at the next start).
        if self._deliverer is not None and self._delivery is not None:
            self._deliverer.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._delivery), DRAIN_S)
            except TimeoutError:
                log.warning(
                    "results still posting after %.0f s; the next start retries them", DRAIN_S
                )
            except Exception:
                pass  # the delivery task's own errors are logged where they happen
        for task in (self._delivery, self._watchdog, self._scheduler):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.modal_submit:
            await self.handlers.modal(interaction)

    async def on_message(self, message: discord.Message, me: discord.abc.User | None) -> None:
        try:
            await self.threads.on_message(message, me)
        except Exception:
            log.exception("handling message %s failed", message.id)

    async def _command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("command failed before it ran", exc_info=error)
        await self.handlers.tell(interaction, "Sorry, that command could not run. Try again.")


class _AtelierEvents(_ClientBase):
    """What both clients share: the adapter, its command tree and the events it handles.

    Mixed in before `discord.Client` or `discord.AutoShardedClient`; only `on_ready`
    differs between the two.
    """

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.atelier_handlers = adapter.handlers  # for the buttons (views.clicks_of)
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.adapter.setup(self, self.tree)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_interaction(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message, self.user)

    async def close(self) -> None:
        await self.adapter.close()
        await super().close()


class AtelierClient(_AtelierEvents, discord.Client):
    async def on_ready(self) -> None:
        log.info("Atelier is on Discord as %s (%d guilds)", self.user, len(self.guilds))


class AtelierShardedClient(_AtelierEvents, discord.AutoShardedClient):
    async def on_ready(self) -> None:
        log.info(
            "Atelier is on Discord as %s (%d guilds, %s shards)",
            self.user,
            len(self.guilds),
            self.shard_count,
        )


async def run_discord(
    settings: Settings,
    queue: JobQueue,
    *,
    on_signals: Callable[[Callable[[], None]], None],
    health: Health | None = None,
) -> int:
    if settings.discord_token is None:
        raise ConfigError("atelier discord needs DISCORD_TOKEN (the bot token of your app).")
    token = settings.discord_token.get_secret_value()
    hide_secrets(token)
    quiet_voice_warnings()
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    adapter = DiscordAdapter(settings, queue, health.metrics if health else None)
    client = adapter.client()
    count_rate_limits(adapter.metrics)
    if health is not None:
        health.ready_when(
            lambda: None if gateway_up(client) else "not connected to the Discord gateway"
        )

    closing: list[asyncio.Task[None]] = []

    def stop() -> None:
        closing.append(asyncio.create_task(client.close()))

    on_signals(stop)
    try:
        async with client:
            await client.start(token)
    except discord.LoginFailure:
        raise ConfigError("Discord refused DISCORD_TOKEN; check the bot token.") from None
    return 0


def gateway_up(client: discord.Client) -> bool:
    """Ready, and every gateway connection open (a dropped one is being resumed)."""
    if not client.is_ready() or client.is_closed():
        return False
    if isinstance(client, discord.AutoShardedClient):
        return all(not shard.is_closed() for shard in client.shards.values())
    ws = client.ws
    return ws is not None and bool(ws.open)


class _RateLimits(logging.Filter):
    """discord.py waits out a 429 on its own and logs a warning; that line is the one place
    a 429 shows, so it is counted here."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def filter(self, record: logging.LogRecord) -> bool:
        if "rate limited" in str(record.msg):
            self.metrics.platform_rate_limited("discord")
        return True


def count_rate_limits(metrics: Metrics) -> None:
    # REST calls log from discord.http; interaction replies go through webhooks.
    for name in ("discord.http", "discord.webhook.async_"):
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(logging.WARNING):  # ATELIER_LOG_LEVEL=ERROR: count anyway
            logger.setLevel(logging.WARNING)  # (the handler still prints ERROR and up only)
        for old in [f for f in logger.filters if isinstance(f, _RateLimits)]:
            logger.removeFilter(old)
        logger.addFilter(_RateLimits(metrics))
