"""A bot-side text (a challenge's entries with their vote buttons, a leaderboard, the help) as
one or more Discord messages, within Discord's limits. Pure: no IO.

Nothing is clipped: a text that fits a message's content (2,000 characters) stays there; a
longer one goes on in embeds under it (4,096 a description, 6,000 a message, 10 a message),
then in further messages. Text is cut at line breaks, an overlong line at a space. The
buttons (at most 25, five rows of five) come with the last message, under every entry they
vote for; pictures come as image embeds, 10 a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import discord

from bot.commands.render import defuse_mentions
from bot.replies import Button

from .messages import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    NOTHING_TO_SHOW,
    OK_COLOUR,
    clip,
)

MAX_EMBEDS = 10
MAX_BUTTONS = 25  # five rows of five
CAPTION_LIMIT = 256  # an embed title


@dataclass
class Page:
    """One message: its content, embeds (text, then pictures) and buttons."""

    content: str = ""
    texts: list[str] = field(default_factory=list)  # embed descriptions, in reading order
    images: list[tuple[str, str]] = field(default_factory=list)  # (caption, link)
    buttons: tuple[Button, ...] = ()

    def embeds(self) -> list[discord.Embed]:
        shown = [discord.Embed(description=text, colour=OK_COLOUR) for text in self.texts]
        return shown + [
            discord.Embed(title=clip(caption, CAPTION_LIMIT), url=url).set_image(url=url)
            for caption, url in self.images
        ]

    def size(self) -> int:
        """The characters Discord counts against a message's 6,000 in embeds."""
        return sum(map(len, self.texts)) + sum(len(clip(c, CAPTION_LIMIT)) for c, _ in self.images)


def pages(
    text: str, buttons: tuple[Button, ...] = (), images: tuple[tuple[str, str], ...] = ()
) -> list[Page]:
    """The messages that show all of `text`, then the pictures, with the buttons last. No
    mention in the text or a caption pings anyone (`defuse_mentions`)."""
    text = defuse_mentions(text)
    images = tuple((defuse_mentions(caption), url) for caption, url in images)
    result = [Page()]
    for line in _lines(text, CONTENT_LIMIT):
        _place(result, line)
    for image in images:
        last = result[-1]
        caption = clip(image[0], CAPTION_LIMIT)
        full = len(last.texts) + len(last.images) >= MAX_EMBEDS
        if full or last.size() + len(caption) > EMBED_TOTAL_LIMIT:
            result.append(last := Page())
        last.images.append(image)
    if not text.strip() and not images and not buttons:
        result[0].content = NOTHING_TO_SHOW  # Discord refuses an empty message
    for start in range(0, len(buttons), MAX_BUTTONS):
        if result[-1].buttons:
            result.append(Page())
        result[-1].buttons = buttons[start : start + MAX_BUTTONS]
    return result


def _place(result: list[Page], line: str) -> None:
    """The next line: in the first message's content while it fits there, then in embeds
    (a description grows to 4,096, a message's embeds to 6,000), then in a new message."""
    last = result[-1]
    if len(result) == 1 and not last.texts:
        joined = f"{last.content}\n{line}" if last.content else line
        if len(joined) <= CONTENT_LIMIT:
            last.content = joined
            return
    grows = last.texts and len(last.texts[-1]) + 1 + len(line) <= DESCRIPTION_LIMIT
    if grows and last.size() + 1 + len(line) <= EMBED_TOTAL_LIMIT:
        last.texts[-1] += "\n" + line
        return
    if not line.strip():
        return  # an embed never starts with a blank line (it would be an empty one)
    if len(last.texts) >= MAX_EMBEDS or last.size() + len(line) > EMBED_TOTAL_LIMIT:
        result.append(last := Page())
    last.texts.append(line)


def _lines(text: str, limit: int) -> list[str]:
    """The lines of `text`, a line longer than `limit` cut at spaces (or hard, if none)."""
    out: list[str] = []
    for line in text.split("\n"):
        while len(line) > limit:
            at = line.rfind(" ", limit // 2, limit + 1)
            cut = at if at > 0 else limit
            out.append(line[:cut])
            line = line[cut:].lstrip(" ") if at > 0 else line[cut:]
        out.append(line)
    return out
