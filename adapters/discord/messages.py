"""Results and progress as Discord messages, within Discord's limits. Pure: no IO.

Generated text is never cut silently: what does not fit an embed goes into an attached
`.txt` file, and the embed says so. Every message is sent with mentions disabled, so a
generated `@everyone` or role mention pings nobody, and every text from a prompt or a model
(titles, embeds, file names, alt text) has its mentions defused (`defuse_mentions`) too.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace

import discord

from bot.commands.render import Message, defuse_mentions, job_title, progress_text, render_result
from bot.jobs import Progress, Result

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
PREVIEW_CHARS = 1500  # how much of an overlong text the embed shows above the attachment
ATTACHED_NOTE = "\n\n*The full text is in the attached file.*"
OK_COLOUR = discord.Colour(0x6B5B95)
ERROR_PREFIX = "⚠️ "
NOTHING_TO_SHOW = "(nothing to show)"
FILES_TOO_LARGE = (
    "The files were too large for this server's upload limit; Regenerate with a smaller size."
)

# Generated content pings nobody; a late result may ping its requester, and only them.
NO_MENTIONS = discord.AllowedMentions.none()


def requester_only(user_id: str) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(int(user_id))]
    )


@dataclass(frozen=True)
class Outgoing:
    content: str | None
    embed: discord.Embed | None = None
    text_file: tuple[str, bytes] | None = None  # (filename, bytes) of the full text
    extra: tuple[tuple[str, bytes], ...] = ()  # the result's own files (image, audio, MIDI)
    alt: tuple[tuple[str, str], ...] = ()  # (filename, alt text) of the result's files

    def file(self) -> discord.File | None:
        """A fresh File each call: a File is consumed by one send."""
        if self.text_file is None:
            return None
        name, data = self.text_file
        return discord.File(io.BytesIO(data), filename=name)

    def files(self) -> list[discord.File]:
        """Every file to send, fresh: the full text (if any), then the result's files."""
        text = self.file()
        alt = dict(self.alt)
        own = [
            discord.File(io.BytesIO(data), filename=name, description=alt.get(name) or None)
            for name, data in self.extra
        ]
        return ([text] if text else []) + own


def clip(text: str, limit: int) -> str:
    """For labels (titles, footers), never for generated text: a visible ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_message(
    result: Result,
    *,
    mention: str = "",
    files: Sequence[tuple[str, bytes]] = (),
    credit: str = "",
) -> Outgoing:
    """`files`: the result's attachments as (filename, bytes), fetched by the caller; the
    first PNG that is not a spoiler is shown inside the embed, and every file carries its
    alt text. `credit`: a chain piece's credit line (`bot.commands.chain`), added to the footer."""
    message = _defused(render_result(result, credit=credit))
    files = [(defuse_mentions(name), data) for name, data in files]
    lead = f"<@{mention}> " if mention else ""
    if message.error:
        return Outgoing(clip(f"{lead}{ERROR_PREFIX}{message.title}: {message.body}", CONTENT_LIMIT))
    title = clip(message.title, TITLE_LIMIT)
    footer = clip(message.footer, FOOTER_LIMIT)
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - len(title) - len(footer))
    body, text_file = message.body, None
    if len(body) > room:
        body = _preview(body, min(PREVIEW_CHARS, room - len(ATTACHED_NOTE))) + ATTACHED_NOTE
        name = f"{result.command}-{result.job_id[:8]}.txt"
        text_file = (name, (message.body + "\n").encode())
    embed = discord.Embed(title=title, description=body, colour=OK_COLOUR)
    if footer:
        embed.set_footer(text=footer)
    # A spoiler file (a flagged image a server posts blurred) stays an attachment: shown
    # inside the embed it would skip Discord's spoiler cover.
    picture = next(
        (n for n, _ in files if n.lower().endswith(".png") and not n.startswith("SPOILER_")),
        None,
    )
    if picture:
        embed.set_image(url=f"attachment://{picture}")
    content = f"{lead}your /{result.command} is ready." if mention else None
    alt = tuple(
        (defuse_mentions(a.filename), clip(defuse_mentions(a.description), 1024))
        for a in result.attachments
        if a.description
    )
    return Outgoing(content, embed, text_file, tuple(files), alt)


def progress_title(progress: Progress) -> str:
    """The progress message's heading: the job's command and prompt, which the progress carries."""
    return job_title(progress.command, clip(progress.prompt, 80), "Your piece")


def queued_message(what: str, count: int, text: str) -> str:
    """The deferred reply once the job is queued: what it is, then its place in line."""
    pieces = f"{count} pieces " if count > 1 else ""
    return clip(defuse_mentions(f"{what} — {pieces}{text}"), CONTENT_LIMIT)


def progress_message(title: str, progress: Progress) -> str:
    """The deferred reply while a job runs: its stage, percentage and the text so far."""
    head = clip(defuse_mentions(f"{title} — *{progress_text(progress)}*"), 300)
    partial = defuse_mentions(progress.partial_text.strip())
    if not partial:
        return head
    room = CONTENT_LIMIT - len(head) - 2
    if len(partial) > room:
        partial = "…" + partial[-(room - 1) :]
    return f"{head}\n{partial}"


def _defused(message: Message) -> Message:
    return replace(
        message,
        title=defuse_mentions(message.title),
        body=defuse_mentions(message.body),
        footer=defuse_mentions(message.footer),
    )


def _preview(text: str, limit: int) -> str:
    """The start of a long text, cut at a line or word boundary, marked as continuing."""
    cut = text[:limit]
    for sep in ("\n", " "):
        at = cut.rfind(sep)
        if at > limit // 2:
            cut = cut[:at]
            break
    return cut.rstrip() + " …"
