"""Challenges, collabs and the gallery on Slack: bot-side answers as Block Kit (public ones
in the channel, buttons for votes and gallery pages), the button clicks, and the challenge
scheduler that polls the deadlines kept in Redis and posts what each phase change says."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack.blocks import (
    Block,
    body_sections,
    button,
    escape,
    plain_reply,
    reply_text,
)
from adapters.slack.context import PLATFORM, SlackDeps
from adapters.slack.limits import MAX_BLOCKS
from bot.commands.parse import parse
from bot.community.uploads import Media
from bot.errors import UserError
from bot.jobs import Origin
from bot.outage import Outage
from bot.replies import Button, Reply

log = logging.getLogger(__name__)
ACTION = "community_{}"  # one action id per button of a message: community_0, community_1, …
_ACTION = re.compile(r"^community_\d+$")
POLL_S = 1.0
BUTTONS_PER_ROW = 5  # Slack allows 25 elements per actions block; rows keep them readable


def community_blocks(text: str, buttons: tuple[Button, ...]) -> list[Block]:
    rows = -(-len(buttons) // BUTTONS_PER_ROW)
    blocks = body_sections(text, MAX_BLOCKS - rows)
    for start in range(0, len(buttons), BUTTONS_PER_ROW):
        row = buttons[start : start + BUTTONS_PER_ROW]
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    button(b.label, ACTION.format(start + i), b.id) for i, b in enumerate(row)
                ],
            }
        )
    return blocks


def community_reply(reply: Reply) -> dict[str, Any]:
    """The arguments of `respond(...)` for a bot-side reply."""
    if not reply.public and not reply.buttons:
        return {"text": f"```{escape(reply.text)}```", "response_type": "ephemeral"}
    return {
        "text": plain_reply(reply.text),
        "blocks": community_blocks(reply.text, reply.buttons),
        "response_type": "in_channel" if reply.public else "ephemeral",
        "replace_original": False,
    }


async def open_thread(deps: SlackDeps, reply: Reply, origin: Origin) -> None:
    """Post a poem's start in the channel; replies in its thread are lines."""
    posted = await deps.post(
        origin.channel_id, community_blocks(reply.text, ()), plain_reply(reply.text)
    )
    opened = origin.model_copy(update={"thread_id": posted.ts})
    await deps.community.thread_opened(opened, reply.thread)


async def mention_submit(deps: SlackDeps, body: dict[str, Any], event: dict[str, Any]) -> bool:
    """`@atelier submit made:human` with a file shared in the same message enters the file in
    the running challenge (its permalink, name, type and size). False: not such a mention."""
    words = re.sub(r"<@[A-Z0-9]+>", " ", str(event.get("text", ""))).split()
    files = event.get("files") or []
    if not words or words[0].lower() != "submit" or not files:
        return False
    shared = files[0]
    channel, user = str(event.get("channel", "")), str(event.get("user", ""))
    origin = deps.origin(
        delivery_id=f"event:{body.get('event_id', event.get('ts'))}",
        channel=channel,
        user=user,
        team=str(body.get("team_id", "")),
    )
    file = Media(
        str(shared.get("permalink") or shared.get("url_private") or ""),
        str(shared.get("name") or "file"),
        str(shared.get("mimetype") or ""),
        int(shared.get("size") or 0),
    )
    try:
        inv = parse(" ".join(["/challenge", *words]))
        inv.options["file"] = file.dumps()
    except UserError as exc:
        reply = Reply(str(exc), error=True)
    else:
        reply = await deps.desk.submit(inv, origin)
    if reply.public:
        await deps.post(channel, community_blocks(reply.text, ()), plain_reply(reply.text))
    else:
        await deps.ephemeral(channel, user, reply_text(reply.text))
    return True


async def thread_reply(deps: SlackDeps, origin: Origin, text: str) -> bool:
    """A reply in a poem's thread becomes a line; False when no poem lives there."""
    reply = await deps.community.reply_in_thread(origin, text)
    if reply is None:
        return False
    if reply.error:
        await deps.ephemeral(origin.channel_id, origin.user_id, reply.text, origin.thread_id)
        return True
    await deps.post(
        origin.channel_id,
        community_blocks(reply.text, ()),
        plain_reply(reply.text),
        origin.thread_id,
    )
    if reply.job_id is not None:  # the turn passed to the model
        await deps.post_job_message(reply, origin.channel_id, thread_ts=origin.thread_id)
    return True


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def on_click(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        origin = deps.origin(
            delivery_id=str(body.get("trigger_id") or action.get("action_ts", "")),
            channel=channel,
            user=user,
            user_name=str(body.get("user", {}).get("name", "")),
            team=str((body.get("team") or {}).get("id", "")),
        )
        # Slack does not say when a member joined the workspace: newcomer rules do not apply.
        reply = await deps.desk.click(str(action.get("value", "")), origin)
        # Answered to the clicker alone: a vote is anonymous, a gallery page is theirs.
        await deps.client.chat_postEphemeral(
            channel=channel,
            user=user,
            text=plain_reply(reply.text),
            blocks=community_blocks(reply.text, reply.buttons),
        )

    app.action(_ACTION)(on_click)


class Scheduler:
    def __init__(self, deps: SlackDeps, *, poll_s: float = POLL_S) -> None:
        self.deps = deps
        self.poll_s = poll_s
        self._outage = Outage(log, "challenge scheduler")
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                # Slack has no nonce: a crash between the post and `announced` posts again.
                for note in await self.deps.community.announcements(PLATFORM):
                    await self.deps.client.chat_postMessage(
                        channel=note.channel,
                        text=plain_reply(note.text),
                        blocks=community_blocks(note.text, note.buttons),
                    )
                    await self.deps.community.announced(note)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._outage.failed(exc, "the challenge scheduler failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_s)
