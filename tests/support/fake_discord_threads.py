"""Threads and members' messages for the loopback Discord (tests/support/fake_discord.py).

REST: starting a thread from a message (`POST /channels/{id}/messages/{id}/threads`), which
also sends THREAD_CREATE on the gateway, as Discord does. Gateway: MESSAGE_CREATE for a
member's message (`say`), honouring the intents the bot identified with: no message events
without GUILD_MESSAGES, and without MESSAGE_CONTENT an empty text (no embeds, attachments or
components either) unless the message mentions the bot.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.support.fake_discord_payloads import (
    GUILD_MESSAGES,
    MESSAGE_CONTENT,
    FakeUser,
    thread_payload,
    user_message_payload,
)

if TYPE_CHECKING:
    from tests.support.fake_discord import Call, FakeDiscord


class ThreadRoutes:
    threads: dict[int, dict[str, Any]]
    intents: int
    event_tasks: set[asyncio.Task[None]]

    def thread_route(self: FakeDiscord, call: Call) -> web.Response | None:
        match = re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", call.path)
        if call.method != "POST" or match is None:
            return None
        from tests.support.fake_discord import _error, _json

        channel, mid = int(match[1]), int(match[2])
        message = self.messages.get(mid)
        if message is None or message["channel_id"] != str(channel):
            return _error(404, 10008, "Unknown Message")
        if message.get("thread"):
            return _error(400, 160004, "A thread has already been created for this message")
        assert isinstance(call.json, dict)
        name = str(call.json["name"])
        if not 1 <= len(name) <= 100:
            return _error(400, 50035, "Invalid Form Body")
        thread = thread_payload(mid, self.guild_id, channel, self.bot.id, name)  # id = message's
        self.threads[mid] = thread
        message["thread"] = thread
        event = self.send_event("THREAD_CREATE", {**thread, "newly_created": True})
        self.event_tasks.add(asyncio.get_running_loop().create_task(event))
        return _json(thread)

    def thread_of(self: FakeDiscord, message: dict[str, Any]) -> dict[str, Any] | None:
        """The thread started from a message, if any."""
        return self.threads.get(int(message["id"]))

    async def say(
        self: FakeDiscord,
        user: FakeUser,
        channel_id: int,
        content: str,
        *,
        mention_bot: bool = False,
    ) -> dict[str, Any]:
        """A member posts a message (with `mention_bot`, `<@bot> ` before the text)."""
        text = f"<@{self.bot.id}> {content}" if mention_bot else content
        mentions = [self.bot] if mention_bot else []
        payload = user_message_payload(
            self.snowflake(), channel_id, self.guild_id, user, text, mentions
        )
        self.messages[int(payload["id"])] = payload
        if not self.intents & GUILD_MESSAGES:
            return payload
        sent = dict(payload)
        if not self.intents & MESSAGE_CONTENT and not mention_bot:
            sent.update(content="", embeds=[], attachments=[], components=[])
        await self.send_event("MESSAGE_CREATE", sent)
        return payload

    async def send_event(self: FakeDiscord, event: str, data: dict[str, Any]) -> None:
        session = self.session_of(self.guild_id)
        session.seq += 1
        await session.ws.send_json({"op": 0, "t": event, "s": session.seq, "d": data})
