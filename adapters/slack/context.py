"""What every Slack listener needs: the front desk, the brainstorm store, the Web API client,
and a few small helpers around them (the message that shows a job, de-duplication, admins)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import Block, fallback, status_blocks
from bot.community.brainstorm import BrainstormStore
from bot.desk.front_desk import FrontDesk
from bot.jobs import Origin
from bot.keys import Keys
from bot.replies import Reply

PLATFORM = ROUTE = "slack"
ONCE_TTL_S = 24 * 3600
ADMIN_CACHE_S = 300.0
log = logging.getLogger(__name__)

NOT_IN_CHANNEL = (
    "I can't post in this channel yet: invite me with `/invite @atelier` (or pick a channel "
    "I'm in) and run the command again."
)


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str
    thread_ts: str = ""


@dataclass
class SlackDeps:
    desk: FrontDesk
    client: AsyncWebClient
    job_ttl_s: int = 7 * 24 * 3600
    reconnect_s: float = 60.0  # how long a command is held while Redis does not answer
    _admins: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.redis: Any = self.desk.redis
        self.keys: Keys = self.desk.keys
        self.store = BrainstormStore(self.desk.redis, keys=self.desk.keys)
        self.community = self.desk.community

    def origin(
        self,
        *,
        delivery_id: str,
        channel: str,
        user: str,
        user_name: str = "",
        team: str = "",
        thread: str = "",
        ref: str = "",
    ) -> Origin:
        return Origin(
            platform=PLATFORM,
            route=ROUTE,
            channel_id=channel,
            user_id=user,
            user_name=user_name,
            guild_id=team,
            thread_id=thread,
            delivery_id=delivery_id,
            reply_ref=ref,
        )

    async def once(self, delivery_id: str) -> bool:
        """True the first time a click or event id is seen; False for a redelivery."""
        key = self.keys.once(PLATFORM, delivery_id)
        return bool(await self.redis.set(key, "1", nx=True, ex=ONCE_TTL_S))

    async def is_admin(self, user_id: str) -> bool:
        """A workspace admin or owner (users.info), cached for a few minutes."""
        cached = self._admins.get(user_id)
        if cached and time.monotonic() - cached[0] < ADMIN_CACHE_S:
            return cached[1]
        try:
            info = await self.client.users_info(user=user_id)
            user = info.get("user") or {}
            admin = bool(
                user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")
            )
        except SlackApiError:
            log.warning("users.info failed; treating %s as a member", user_id)
            admin = False
        self._admins[user_id] = (time.monotonic(), admin)
        return admin

    async def post_job_message(
        self, reply: Reply, channel: str, *, thread_ts: str = "", title: str = ""
    ) -> Posted:
        """Post the message that shows a job (its place in line) and remember it, so the
        delivery loop edits it with progress and the result."""
        assert reply.job_id is not None
        title = title or reply.title()
        posted = await self.post(
            channel, status_blocks(title, reply.text), fallback(title, reply.text), thread_ts
        )
        await self.remember_job_message(reply.job_id, posted)
        return posted

    async def remember_job_message(self, job_id: str, posted: Posted, *, nx: bool = False) -> bool:
        """Note the message that shows a job (nx: unless the job has one already)."""
        data = {"channel": posted.channel, "ts": posted.ts, "thread_ts": posted.thread_ts}
        key = self.keys.slack_message(job_id)
        return bool(await self.redis.set(key, json.dumps(data), ex=self.job_ttl_s, nx=nx))

    async def job_message(self, job_id: str, *, wait_s: float = 0.0) -> Posted | None:
        """The message showing a job; waits up to wait_s (a fast result may beat the post)."""
        deadline = time.monotonic() + wait_s
        while True:
            raw = await self.redis.get(self.keys.slack_message(job_id))
            if raw:
                data = json.loads(raw)
                return Posted(data["channel"], data["ts"], data.get("thread_ts", ""))
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.1)

    async def post(
        self,
        channel: str,
        blocks: list[Block],
        text: str,
        thread_ts: str = "",
        *,
        broadcast: bool = False,
    ) -> Posted:
        kwargs: dict[str, Any] = {"channel": channel, "blocks": blocks, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
            if broadcast:
                kwargs["reply_broadcast"] = True
        reply = await self.client.chat_postMessage(**kwargs)
        return Posted(str(reply["channel"]), str(reply["ts"]), thread_ts)

    async def update(self, where: Posted, blocks: list[Block], text: str) -> None:
        await self.client.chat_update(channel=where.channel, ts=where.ts, blocks=blocks, text=text)

    async def show(
        self, where: Posted | None, origin: Origin, blocks: list[Block], text: str
    ) -> Posted:
        """A result in the message that showed its job, or a new post where it was asked."""
        if where is not None:
            await self.update(where, blocks, text)
            return where
        return await self.post(origin.channel_id, blocks, text, origin.thread_id)

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: str = "") -> None:
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await self.client.chat_postEphemeral(**kwargs)
        except SlackApiError as exc:
            log.warning("could not send an ephemeral message: %s", exc.response.get("error"))


def slack_error(exc: SlackApiError) -> str:
    """A Web API error code phrased for the person who clicked or typed."""
    code = str(exc.response.get("error", ""))
    if code in ("not_in_channel", "channel_not_found"):
        return NOT_IN_CHANNEL
    return f"Slack refused the message ({code or 'unknown error'}). Try again in a moment."
