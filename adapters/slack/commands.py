"""Slash commands: one listener for every command of the catalogue.

Slack gives the command and its text; the front desk parses and validates them. The listener
acks first (Slack wants an answer within 3 seconds), then enqueues and posts the message that
shows the job. A redelivered command (same trigger id) maps to the same job and posts nothing.
A command that arrives while Redis does not answer is held (`adapters.slack.held`).
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import reply_text
from adapters.slack.community import community_reply, open_thread
from adapters.slack.context import SlackDeps, slack_error
from adapters.slack.held import Held
from bot.commands.catalogue import CATALOGUE
from bot.desk.holding import hold
from bot.jobs import job_id_for
from bot.replies import Reply

log = logging.getLogger(__name__)
SLASH_COMMANDS = tuple(f"/{c.name}" for c in CATALOGUE)
# Commands whose answer depends on being a workspace admin (users.info is asked only then).
_NEEDS_ADMIN = re.compile(
    r"^/atelier\b.*\bsettings\b.*\bvalue:|^/challenge\s+(?:new|end)\b|^/gallery\b.*\bdelete:",
    re.IGNORECASE | re.DOTALL,
)
_USER_LINK = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(\w+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
_URL_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def command_text(raw: str) -> str:
    """Slack's escaped command text as the person typed it. Channel links (`<#C123|art>`)
    stay, for `/atelier settings key:allowed_channels`; mentions and links become plain
    words; then &amp; &lt; &gt; are unescaped (the manifest sets should_escape: true)."""
    text = _USER_LINK.sub(lambda m: "@" + (m.group(2) or m.group(1)), raw)
    text = _SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _URL_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return html.unescape(text) if "&" in text else text


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def on_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await run_command(deps, body, respond)

    for name in SLASH_COMMANDS:
        app.command(name)(on_command)


async def run_command(deps: SlackDeps, body: dict[str, Any], respond: Any) -> None:
    text = f"{body.get('command', '')} {command_text(str(body.get('text', '')))}".strip()
    user = str(body.get("user_id", ""))
    channel = str(body.get("channel_id", ""))
    origin = deps.origin(
        delivery_id=str(body.get("trigger_id") or f"{channel}:{body.get('command')}"),
        channel=channel,
        user=user,
        user_name=str(body.get("user_name", "")),
        team=str(body.get("team_id", "")),
    )

    held = Held(deps, channel, text, respond)

    async def attempt() -> Reply:
        # A held message is noted as the job's before the job can be queued, so a fast result
        # edits it rather than posting a second message.
        await held.claim_for(job_id_for(origin.platform, origin.delivery_id))
        admin = bool(_NEEDS_ADMIN.search(text)) and await deps.is_admin(user)
        return await deps.desk.handle(text, origin, admin=admin)

    found = await hold(attempt, window_s=deps.reconnect_s, on_hold=held.tell)
    if found is None:  # Redis did not come back within the window
        await held.gave_up()
        return
    reply = found
    if await held.adopt(reply):
        return
    if reply.error:
        await respond(text=reply_text(reply.text), response_type="ephemeral")
        return
    if reply.thread:  # a poem written together: its own message, lines as thread replies
        try:
            await open_thread(deps, reply, origin)
        except SlackApiError as exc:
            await respond(text=slack_error(exc), response_type="ephemeral")
        return
    if reply.job_id is None or reply.public:  # help, settings, community answers
        await respond(**community_reply(reply))
        if reply.job_id is None:
            return
    if reply.duplicate:
        log.info("command %s delivered again; job %s exists", body.get("command"), reply.job_id)
        return
    try:
        await deps.post_job_message(reply, channel)
    except SlackApiError as exc:
        await respond(text=slack_error(exc), response_type="ephemeral")
