"""The challenge scheduler's Discord side: poll the deadlines kept in Redis and post what each
phase change has to say (voting opens with vote buttons, winners at the close) in the
challenge's channel. The deadlines live in Redis, so a restarted adapter picks them up."""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.service import FrontDesk

from .handlers import PLATFORM
from .messages import NO_MENTIONS, clip
from .views import community_view

log = logging.getLogger(__name__)
POLL_S = 1.0


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
                    channel = self.client.get_partial_messageable(int(note.channel))
                    await channel.send(
                        clip(note.text, 2000),
                        view=community_view(note.buttons) or discord.utils.MISSING,
                        allowed_mentions=NO_MENTIONS,
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the challenge scheduler failed; trying again")
            await asyncio.sleep(self.poll_s)
