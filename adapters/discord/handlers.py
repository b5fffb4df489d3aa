"""What the adapter does with each interaction: slash commands, button clicks, the Remix
form. One error handler for all of them: errors the user can fix come back as ephemeral
messages saying what to do; anything else is logged with its trace and answered with a
short apology and the job id."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord

from bot.commands.parse import from_options
from bot.commands.render import defuse_mentions
from bot.community.uploads import Media
from bot.desk.front_desk import FrontDesk
from bot.errors import UserError
from bot.jobs import OptionValue, job_id_for
from bot.replies import Action, Reply

from .messages import NO_MENTIONS, clip
from .origins import PLATFORM, origin_of
from .replies import ReplyStore
from .threads import Threads
from .views import community_view, remix_modal, remix_submit

log = logging.getLogger(__name__)
VERBS = {
    Action.VARIATIONS: "Variations of",
    Action.REMIX: "Remix of",
    Action.ILLUSTRATE: "Illustrating",
    Action.SCORE: "Scoring",
    Action.WRITE: "Writing about",
}
ALREADY_ACKNOWLEDGED = 40060  # Discord's code: another delivery of this interaction answered


def joined_at(interaction: discord.Interaction) -> float | None:
    """When the member joined the server, where Discord says (challenge votes use it)."""
    joined = getattr(interaction.user, "joined_at", None)
    return joined.timestamp() if joined is not None else None


def uploaded(value: object) -> OptionValue:
    """An option's value; an uploaded file as `bot.community.uploads` reads it
    (link, name, type, size)."""
    if isinstance(value, discord.Attachment):
        return Media(value.url, value.filename, value.content_type or "", value.size).dumps()
    return value  # type: ignore[return-value]


class Handlers:
    def __init__(self, desk: FrontDesk, replies: ReplyStore) -> None:
        self.desk = desk
        self.replies = replies
        self.threads: Threads | None = None  # set by the adapter

    async def slash(
        self,
        interaction: discord.Interaction,
        path: tuple[str, ...],
        values: dict[str, OptionValue],
    ) -> None:
        async with self.guard(interaction, "/" + " ".join(path)):
            given = {k: uploaded(v) for k, v in values.items() if v is not None}
            prompt = str(given.pop("prompt", ""))
            inv = from_options(path, prompt, given)  # bad options: an ephemeral answer
            origin = origin_of(interaction)
            if inv.command.kind is None:  # help, settings, community: bot-side answers
                admin = interaction.permissions.manage_guild
                reply = await self.desk.submit(
                    inv, origin, admin=admin, joined_at=joined_at(interaction)
                )
                await self.show(interaction, reply)
                return
            if not await self.defer(interaction):
                return  # a repeated delivery: the first copy queues the job
            async with self.replies.lock(str(interaction.id)):
                await self.remember(interaction)
                reply = await self.desk.submit(inv, origin)
                await self.show_queued([reply], interaction, f"/{inv.name} {clip(prompt, 80)}")

    async def button(self, interaction: discord.Interaction, action: Action, job_id: str) -> None:
        async with self.guard(interaction, f"button {action.value}"):
            if action is Action.DELETE:
                await self.delete(interaction, job_id)
            elif action is Action.REMIX:
                parent = await self.desk.stored_job(job_id)
                if parent is None:
                    raise UserError("That piece is too old to remix. Run the command again.")
                modal = remix_modal(job_id, parent.command, parent.prompt)
                await interaction.response.send_modal(modal)
            else:
                await self.follow_up(interaction, action, job_id)

    async def community(self, interaction: discord.Interaction, button_id: str) -> None:
        """A vote or a gallery page button."""
        async with self.guard(interaction, "community button"):
            reply = await self.desk.click(
                button_id,
                origin_of(interaction),
                admin=interaction.permissions.manage_guild,
                joined_at=joined_at(interaction),
            )
            await self.show(interaction, reply)

    async def show(self, interaction: discord.Interaction, reply: Reply) -> None:
        """A bot-side reply: to the channel when it is public, else to the asker only."""
        if not reply.public:
            await self.tell(interaction, reply.text, buttons=community_view(reply.buttons))
            return
        await interaction.response.send_message(
            clip(defuse_mentions(reply.text), 2000),
            view=community_view(reply.buttons) or discord.utils.MISSING,
            allowed_mentions=NO_MENTIONS,
        )
        if reply.thread and self.threads is not None:  # a poem written together
            await self.threads.open(interaction, reply)

    async def modal(self, interaction: discord.Interaction) -> None:
        """A submitted Remix form (handled from its custom id, also after a restart)."""
        submitted = remix_submit(interaction.data)
        if submitted is None:
            return
        job_id, text = submitted
        async with self.guard(interaction, "remix form"):
            await self.follow_up(interaction, Action.REMIX, job_id, text)

    async def follow_up(
        self, interaction: discord.Interaction, action: Action, job_id: str, text: str = ""
    ) -> None:
        origin = origin_of(interaction)
        if not await self.defer(interaction):
            return
        async with self.replies.lock(str(interaction.id)):
            await self.remember(interaction)
            replies = await self.desk.follow_up(action, job_id, origin, text=text)
            parent = await self.desk.stored_job(job_id)
            what = f"/{parent.command} {clip(parent.prompt, 80)}" if parent else "this piece"
            verb = VERBS.get(action, "Regenerating")
            await self.show_queued(replies, interaction, f"{verb} {what}")

    async def delete(self, interaction: discord.Interaction, job_id: str) -> None:
        moderator = interaction.permissions.manage_messages
        if not await self.desk.may_delete(job_id, str(interaction.user.id), moderator=moderator):
            raise UserError(
                "Only the member who asked for this piece, or a moderator, can delete it."
            )
        await interaction.response.defer()
        if interaction.message is not None:
            await interaction.message.delete()

    async def defer(self, interaction: discord.Interaction) -> bool:
        """Acknowledge at once (Discord allows 3 seconds). False: this interaction was
        answered before (a repeated delivery), so this copy does nothing more."""
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            if exc.code == ALREADY_ACKNOWLEDGED:
                log.info("interaction %s was answered already: a repeat", interaction.id)
                return False
            raise
        return True

    async def remember(self, interaction: discord.Interaction) -> None:
        """Keep what the delivery needs to edit the deferred reply (a new message)."""
        message = await interaction.original_response()
        await self.replies.save(
            str(interaction.id),
            app_id=interaction.application_id,
            token=interaction.token,
            message_id=message.id,
            created_at=interaction.created_at.timestamp(),
        )

    async def show_queued(
        self, replies: list[Reply], interaction: discord.Interaction, what: str
    ) -> None:
        errors = [r for r in replies if r.error]
        if errors:  # nothing was queued: say why, to the asker only
            await interaction.delete_original_response()
            await self.tell(interaction, errors[0].text)
            return
        if all(r.duplicate for r in replies):
            return
        count = f"{len(replies)} pieces " if len(replies) > 1 else ""
        await interaction.edit_original_response(
            content=defuse_mentions(f"{what} — {count}{replies[0].text}"),
            allowed_mentions=NO_MENTIONS,
        )

    @asynccontextmanager
    async def guard(self, interaction: discord.Interaction, what: str) -> AsyncIterator[None]:
        try:
            yield
        except UserError as exc:
            await self.tell(interaction, str(exc))
        except discord.HTTPException as exc:
            if exc.code == ALREADY_ACKNOWLEDGED:  # a repeated delivery of a click
                log.info("interaction %s was answered already: a repeat", interaction.id)
            else:
                await self._apologise(interaction, what)
        except Exception:
            await self._apologise(interaction, what)

    async def _apologise(self, interaction: discord.Interaction, what: str) -> None:
        """Called inside an except block: the trace goes to the log, a job id to the user."""
        ref = job_id_for(PLATFORM, str(interaction.id))
        log.exception("%s failed (job %s)", what, ref, extra={"job_id": ref})
        await self.tell(
            interaction,
            f"Sorry, something went wrong on our side (job {ref}). Please try again in a moment.",
        )

    async def tell(
        self, interaction: discord.Interaction, text: str, *, buttons: discord.ui.View | None = None
    ) -> None:
        """An ephemeral answer, whether or not the interaction was answered already."""
        text = clip(defuse_mentions(text), 2000)
        view = buttons or discord.utils.MISSING
        try:
            if interaction.response.is_done():
                await interaction.followup.send(
                    text, ephemeral=True, view=view, allowed_mentions=NO_MENTIONS
                )
            else:
                await interaction.response.send_message(
                    text, ephemeral=True, view=view, allowed_mentions=NO_MENTIONS
                )
        except discord.HTTPException:
            log.warning("could not answer interaction %s", interaction.id, exc_info=True)
