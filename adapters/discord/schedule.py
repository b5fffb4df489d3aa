"""The challenge scheduler's Discord side: poll the deadlines kept in Redis and post what each
phase change has to say (voting opens with vote buttons, winners at the close) in the
challenge's channel. The deadlines and the outbox of unposted announcements live in Redis,
so a restarted adapter picks them up; each post carries its outbox key as the message nonce,
so a repost after a crash shows nothing new (see `bot.community.outbox`)."""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.commands.render import defuse_mentions
from bot.community.announcements import Announcement
from bot.community.outbox import nonce
from bot.desk.front_desk import FrontDesk

from .messages import NO_MENTIONS, clip
from .origins import PLATFORM
from .views import community_view

log = logging.getLogger(__name__)
POLL_S = 1.0
MAX_EMBEDS = 10


class Scheduler:
    def __init__(self, client: discord.Client, desk: FrontDesk, *, poll_s: float = POLL_S) -> None:
        self.client = client
        self.desk = desk
        self.poll_s = poll_s

    async def run(self) -> None:
        await self.client.wait_until_ready()
        while True:
            try:
                for note in await self.desk.community.announcements(PLATFORM):
                    try:
                        await self.post(note)
                    except (discord.Forbidden, discord.NotFound):
                        # Retrying cannot help (no access, the channel is gone): drop it.
                        log.warning("cannot post in channel %s; announcement dropped", note.channel)
                    await self.desk.community.announced(note)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the challenge scheduler failed; trying again")
            await asyncio.sleep(self.poll_s)

    async def post(self, note: Announcement) -> None:
        channel = self.client.get_partial_messageable(int(note.channel))
        await channel.send(
            clip(defuse_mentions(note.text), 2000),
            embeds=pictures(note) or discord.utils.MISSING,
            view=community_view(note.buttons) or discord.utils.MISSING,
            allowed_mentions=NO_MENTIONS,
            nonce=nonce(note.key),
        )


def pictures(note: Announcement) -> list[discord.Embed]:
    """The entries that are pictures, shown as images (Discord allows 10 embeds a message)."""
    return [
        discord.Embed(title=caption, url=url).set_image(url=url)
        for caption, url in note.images[:MAX_EMBEDS]
    ]
