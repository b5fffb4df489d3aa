"""Team brainstorming in a Slack thread: votes, added ideas (thread replies or a modal),
Expand, Wrap up, and `@atelier more like #3`. The state is `bot.community.brainstorm`'s; this module
only maps clicks, messages and mentions onto it and redraws the list message."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import (
    ADD_IDEA,
    ADD_IDEA_VIEW,
    EXPAND,
    TEXT_INPUT,
    VOTE,
    WRAP_UP,
    fallback,
    idea_list_blocks,
    reply_text,
    text_modal,
    wrap_up_blocks,
)
from adapters.slack.community import mention_submit, thread_reply
from adapters.slack.context import PLATFORM, Posted, SlackDeps, slack_error
from bot.community.brainstorm import Session, expand_job, idea_number_in, more_job

log = logging.getLogger(__name__)
_SEEDS = random.SystemRandom()
NOT_A_SESSION = "That brainstorm has ended or is too old. Start a new one with /brainstorm <topic>."
FULL = "This brainstorm is full. Wrap it up, or start a new one with /brainstorm <topic>."


def register(app: AsyncApp, deps: SlackDeps) -> None:
    listeners = _Listeners(deps)
    app.action(VOTE)(listeners.on_vote)
    app.action(EXPAND)(listeners.on_expand)
    app.action(ADD_IDEA)(listeners.on_add_button)
    app.action(WRAP_UP)(listeners.on_wrap_up)
    app.view(ADD_IDEA_VIEW)(listeners.on_add_submit)
    app.event("message")(listeners.on_message)
    app.event("app_mention")(listeners.on_mention)


class _Listeners:
    """The brainstorm's listeners, each a method so they share the adapter's deps."""

    def __init__(self, deps: SlackDeps) -> None:
        self.deps = deps

    async def on_vote(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        session, number = await _session_and_number(self.deps, str(action["value"]))
        if session is None or not await self.deps.once(str(body["trigger_id"])):
            return
        await self.deps.store.toggle_vote(session, number, str(body["user"]["id"]))
        await refresh_list(self.deps, session)

    async def on_expand(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = str(body["user"]["id"])
        session, number = await _session_and_number(self.deps, str(action["value"]))
        idea = await self.deps.store.idea(session, number) if session else None
        if session is None or idea is None:
            await self.deps.ephemeral(str(body["channel"]["id"]), user, NOT_A_SESSION)
            return
        origin = self.deps.origin(
            delivery_id=str(body["trigger_id"]),
            channel=session.channel_id,
            user=user,
            user_name=str(body["user"].get("username", "")),
            team=str((body.get("team") or {}).get("id", "")),
            thread=session.thread_id,
        )
        reply = await self.deps.desk.submit_job(expand_job(session, idea, origin, _seed()))
        await _post_job(self.deps, reply, session, user, f"Expanding idea #{number}: {idea.text}")

    async def on_add_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        view = text_modal(
            ADD_IDEA_VIEW, "Add an idea", "Your idea", meta={"session": str(action["value"])}
        )
        await self.deps.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def on_add_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        session = await self.deps.store.get(str(meta.get("session", "")))
        text = (view["state"]["values"][TEXT_INPUT][TEXT_INPUT].get("value") or "").strip()
        if session is None:
            await ack(response_action="errors", errors={TEXT_INPUT: NOT_A_SESSION[:150]})
            return
        await ack()
        if text and await self.deps.once(f"view:{view['id']}"):
            user = body["user"]
            await add_idea(self.deps, session, text, str(user["id"]), _name(user))

    async def on_wrap_up(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        session = await self.deps.store.get(str(action["value"]))
        if session is None or not await self.deps.once(str(body["trigger_id"])):
            return
        ideas = await self.deps.store.ideas(session)
        blocks = wrap_up_blocks(session, ideas)
        await self.deps.post(
            session.channel_id,
            blocks,
            fallback(f"Top ideas for {session.topic}"),
            session.thread_id,
            broadcast=True,
        )

    async def on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        thread = str(event.get("thread_ts") or "")
        if not thread or event.get("subtype") or event.get("bot_id"):
            return
        bot_user = str(context.get("bot_user_id") or "")
        text = str(event.get("text") or "").strip()
        if not text or (bot_user and f"<@{bot_user}>" in text):
            return  # a mention is handled as app_mention
        session = await self.deps.store.in_thread(PLATFORM, str(event.get("channel", "")), thread)
        if not await self.deps.once(f"event:{body.get('event_id', event['ts'])}"):
            return
        if session is None:  # a poem written together may live in this thread
            origin = self.deps.origin(
                delivery_id=f"event:{body.get('event_id', event['ts'])}",
                channel=str(event.get("channel", "")),
                user=str(event.get("user", "")),
                team=str(body.get("team_id", "")),
                thread=thread,
            )
            await thread_reply(self.deps, origin, text)
            return
        await add_idea(self.deps, session, text, str(event.get("user", "")), "")

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any], say: Any) -> None:
        thread = str(event.get("thread_ts") or "")
        channel = str(event.get("channel", ""))
        session = await self.deps.store.in_thread(PLATFORM, channel, thread) if thread else None
        if session is None and await mention_submit(self.deps, body, event):
            return  # a file entered in a challenge
        if session is None:
            await say(
                text="Mention me in a brainstorm's thread (`@atelier more like #3`), or start "
                "one with `/brainstorm <topic>`.",
                thread_ts=str(event.get("ts", "")),
            )
            return
        number = idea_number_in(str(event.get("text", "")))
        idea = await self.deps.store.idea(session, number) if number else None
        user = str(event.get("user", ""))
        origin = self.deps.origin(
            delivery_id=f"event:{body.get('event_id', event.get('ts'))}",
            channel=channel,
            user=user,
            team=str(body.get("team_id", "")),
            thread=thread,
        )
        reply = await self.deps.desk.submit_job(more_job(session, idea, origin, _seed()))
        what = f"More ideas like #{idea.number}" if idea else "More ideas"
        await _post_job(self.deps, reply, session, user, f"{what} for {session.topic}")


async def add_idea(deps: SlackDeps, session: Session, text: str, user: str, name: str) -> None:
    number = await deps.store.add_idea(session, text, user, name)
    if number == 0:
        await deps.ephemeral(session.channel_id, user, FULL, session.thread_id)
        return
    await refresh_list(deps, session)


async def refresh_list(deps: SlackDeps, session: Session, note: str = "") -> None:
    """Redraw the list message from Redis: ideas, authors and vote counts."""
    if not session.list_ref:
        return
    ideas = await deps.store.ideas(session)
    where = Posted(session.channel_id, session.list_ref, session.thread_id)
    await deps.update(where, idea_list_blocks(session, ideas, note), fallback(session.topic))


async def _post_job(deps: SlackDeps, reply: Any, session: Session, user: str, title: str) -> None:
    if reply.error:
        await deps.ephemeral(session.channel_id, user, reply_text(reply.text), session.thread_id)
        return
    if reply.duplicate:
        return
    try:
        await deps.post_job_message(
            reply, session.channel_id, thread_ts=session.thread_id, title=title
        )
    except SlackApiError as exc:
        await deps.ephemeral(session.channel_id, user, slack_error(exc), session.thread_id)


async def _session_and_number(deps: SlackDeps, value: str) -> tuple[Session | None, int]:
    session_id, _, number = value.rpartition(":")
    if not number.isdigit():
        return None, 0
    return await deps.store.get(session_id), int(number)


def _name(user: dict[str, Any]) -> str:
    return str(user.get("username") or user.get("name") or "")


def _seed() -> int:
    return _SEEDS.randrange(2**31)
