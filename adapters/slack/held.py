"""A Slack command held while Redis does not answer (`bot.desk.holding`). The member is told
at once: a command that makes a job gets its message posted now, saying the queue is
reconnecting, and that message becomes the job's (edited with its place in line, progress
and the result); other commands get an ephemeral note. Past the window, the message (or a
second note) says to try again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import fallback, status_blocks
from adapters.slack.context import Posted, SlackDeps
from bot.commands.parse import parse
from bot.commands.render import gave_up_text, held_text, job_title
from bot.desk.holding import makes_a_job
from bot.replies import Reply


@dataclass
class Held:
    deps: SlackDeps
    channel: str
    text: str  # the command as typed: "/poem the sea"
    respond: Any
    posted: Posted | None = None
    title: str = ""
    claimed: bool = False  # the held message is noted as the job's message

    async def tell(self) -> None:
        text = held_text(self.deps.reconnect_s)
        if makes_a_job(self.text):
            inv = parse(self.text)
            self.title = job_title(inv.command.name, inv.prompt)
            try:
                self.posted = await self.deps.post(
                    self.channel, status_blocks(self.title, text), fallback(self.title, text)
                )
                return
            except SlackApiError:
                pass  # not in the channel, say: the member still hears it
        await self.respond(text=text, response_type="ephemeral")

    async def gave_up(self) -> None:
        text = gave_up_text(self.deps.reconnect_s)
        if self.posted is not None:
            await self.deps.update(
                self.posted, status_blocks(self.title, text), fallback(self.title, text)
            )
            return
        await self.respond(text=text, response_type="ephemeral")

    async def claim_for(self, job_id: str) -> None:
        """Note the held message as the job's (raises while Redis is still down)."""
        if self.posted is not None and not self.claimed:
            await self.deps.remember_job_message(job_id, self.posted, nx=True)
            self.claimed = True

    async def adopt(self, reply: Reply) -> bool:
        """True when the held message now shows the reply's job; otherwise it is deleted and
        the reply takes its usual way (an error is ephemeral, a community answer public)."""
        if self.posted is None:
            return False
        if reply.job_id and not (reply.error or reply.thread or reply.public):
            title = reply.title()
            await self.deps.update(
                self.posted, status_blocks(title, reply.text), fallback(title, reply.text)
            )
            await self.deps.remember_job_message(reply.job_id, self.posted, nx=True)
            return True
        await self.deps.client.chat_delete(channel=self.posted.channel, ts=self.posted.ts)
        return False
