"""Poems written together in Discord threads.

`/collab start` posts the poem's start in the channel and opens a thread on that message;
members add lines by replying there. Discord sends a message's text only to bots with the
privileged message-content intent (ATELIER_DISCORD_MESSAGE_CONTENT=1, also switched on in the
developer portal), or when the message mentions the bot. So without the intent a reply is a
line when it mentions the bot, and `/collab line` works everywhere. A thread is a channel of
its own on Discord: lines, the model's line and the turn prompts all post in it.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

import discord

from bot.commands.render import defuse_mentions
from bot.desk.front_desk import FrontDesk
from bot.jobs import Origin
from bot.replies import Reply

from .messages import NO_MENTIONS, clip
from .origins import PLATFORM, ROUTE, origin_of
from .pages import pages

log = logging.getLogger(__name__)
THREAD_NAME_LIMIT = 100
ARCHIVE_AFTER_MIN: Literal[1440] = 1440  # a day without messages


def thread_name(text: str) -> str:
    """The poem's first line ("A sonnet written together: “winter”, ...") as its name."""
    first = text.splitlines()[0] if text else "A poem written together"
    return clip(defuse_mentions(first.split(",")[0]), THREAD_NAME_LIMIT)


def how_to_reply(bot_id: int, *, read_all: bool) -> str:
    if read_all:
        how = "Reply in this thread with your line"
    else:
        how = f"Reply in this thread with your line and mention me (<@{bot_id}> your line)"
    return (
        f"{how}; members take turns. /collab model asks the model for a line, /collab line "
        "works here too, and /collab finish compiles the poem (illustrate:true adds a picture)."
    )


def line_text(message: discord.Message, bot_id: int) -> str:
    """The line itself: the message without mentions of the bot."""
    return " ".join(re.sub(rf"<@!?{bot_id}>", " ", message.content).split())


class Threads:
    def __init__(self, desk: FrontDesk, *, read_all: bool) -> None:
        self.desk = desk
        self.read_all = read_all  # the message-content intent is on

    async def open(self, interaction: discord.Interaction, reply: Reply) -> None:
        """After the poem's start was posted: a thread on it, where replies are lines."""
        message = await interaction.original_response()
        thread = await message.create_thread(
            name=thread_name(reply.text), auto_archive_duration=ARCHIVE_AFTER_MIN
        )
        await self.desk.community.thread_opened(
            origin_of(interaction), reply.thread, str(thread.id)
        )
        bot_id = interaction.client.user.id if interaction.client.user else 0
        await thread.send(
            how_to_reply(bot_id, read_all=self.read_all), allowed_mentions=NO_MENTIONS
        )

    async def on_message(self, message: discord.Message, me: discord.abc.User | None) -> None:
        """A message in a poem's thread: the author's line (or what stopped it)."""
        if me is None or message.author.bot or message.guild is None:
            return
        mentioned = any(user.id == me.id for user in message.mentions)
        if not (self.read_all or mentioned):
            return  # without the intent Discord sends no text for this message anyway
        text = line_text(message, me.id)
        if not text:
            return
        origin = Origin(
            platform=PLATFORM,
            route=ROUTE,
            channel_id=str(message.channel.id),
            user_id=str(message.author.id),
            user_name=message.author.display_name,
            guild_id=str(message.guild.id),
            delivery_id=f"message:{message.id}",
        )
        reply = await self.desk.community.reply_in_thread(origin, text)
        if reply is None:
            return
        body = f"⚠️ {reply.text}" if reply.error else reply.text
        # The poem so far, whole (40 lines of 200 characters take two messages); the first
        # answers the member's line.
        first, *rest = pages(body)
        await message.channel.send(
            first.content or None,
            embeds=first.embeds() or discord.utils.MISSING,
            reference=message.to_reference(fail_if_not_exists=False),
            allowed_mentions=NO_MENTIONS,
            nonce=f"line{message.id}"[:25],
        )
        for i, page in enumerate(rest, 1):
            await message.channel.send(
                page.content or None,
                embeds=page.embeds() or discord.utils.MISSING,
                allowed_mentions=NO_MENTIONS,
                nonce=f"l{i}:{message.id}"[:25],
            )
