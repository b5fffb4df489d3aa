"""The buttons on a result: Regenerate, Variations, Remix (a modal), Delete, and the chain
actions (Illustrate, Score it, Write about it: `bot.commands.chain`).

A click's trigger id is its delivery id, so a click delivered twice enqueues nothing new.
New pieces are posted in the thread of the message whose button was clicked.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import REMIX_VIEW, RESULT_ACTION, TEXT_INPUT, reply_text, text_modal
from adapters.slack.context import SlackDeps, slack_error
from bot.replies import Action

# Buttons that queue new pieces straight away (Remix opens a form first).
CLICKS = (Action.REGENERATE, Action.VARIATIONS, Action.ILLUSTRATE, Action.SCORE, Action.WRITE)
DELETE_REFUSED = "Only the person who asked for this piece, or a workspace admin, can delete it."


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def on_follow_up(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        kind = Action(str(action["action_id"]).removeprefix(RESULT_ACTION.format("")))
        where = _where(body)
        await follow_up(deps, kind, str(action["value"]), body, where)

    async def on_remix(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        job = await deps.desk.stored_job(str(action["value"]))
        where = _where(body)
        if job is None:
            await deps.ephemeral(where["channel"], where["user"], "That piece is too old to remix.")
            return
        view = text_modal(
            REMIX_VIEW,
            f"Remix /{job.command}",
            "New text and options",
            initial=job.prompt,
            hint="Edit the text; add options such as mood:eerie or form:haiku.",
            meta={"job": job.id, "channel": where["channel"], "thread": where["thread"]},
        )
        await deps.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def on_remix_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        text = view["state"]["values"][TEXT_INPUT][TEXT_INPUT].get("value") or ""
        where = {
            "channel": meta.get("channel", ""),
            "thread": meta.get("thread", ""),
            "user": body["user"]["id"],
            "team": _team(body),
        }
        origin = _origin(deps, str(view["id"]), body, where)
        replies = await deps.desk.follow_up(Action.REMIX, meta.get("job", ""), origin, text=text)
        errors = [r.text for r in replies if r.error]
        if errors:  # shown under the text box, so the person can fix it and submit again
            await ack(response_action="errors", errors={TEXT_INPUT: errors[0][:150]})
            return
        await ack()
        await _post_replies(deps, replies, where)

    async def on_delete(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        where = _where(body)
        admin = await deps.is_admin(where["user"])
        allowed = await deps.desk.may_delete(str(action["value"]), where["user"], moderator=admin)
        if not allowed:
            await deps.ephemeral(where["channel"], where["user"], DELETE_REFUSED)
            return
        await deps.client.chat_delete(channel=where["channel"], ts=body["message"]["ts"])

    for kind in CLICKS:
        app.action(RESULT_ACTION.format(kind))(on_follow_up)
    app.action(RESULT_ACTION.format(Action.REMIX))(on_remix)
    app.action(RESULT_ACTION.format(Action.DELETE))(on_delete)
    app.view(REMIX_VIEW)(on_remix_submit)


async def follow_up(
    deps: SlackDeps, kind: Action, job_id: str, body: dict[str, Any], where: dict[str, str]
) -> None:
    origin = _origin(deps, str(body["trigger_id"]), body, where)
    replies = await deps.desk.follow_up(kind, job_id, origin)
    await _post_replies(deps, replies, where)


async def _post_replies(deps: SlackDeps, replies: list[Any], where: dict[str, str]) -> None:
    for reply in replies:
        if reply.error:
            await deps.ephemeral(where["channel"], where["user"], reply_text(reply.text))
            return
        if reply.duplicate:
            continue
        try:
            await deps.post_job_message(reply, where["channel"], thread_ts=where["thread"])
        except SlackApiError as exc:
            await deps.ephemeral(where["channel"], where["user"], slack_error(exc))
            return


def _where(body: dict[str, Any]) -> dict[str, str]:
    message = body.get("message") or {}
    return {
        "channel": str((body.get("channel") or {}).get("id", "")),
        "thread": str(message.get("thread_ts") or message.get("ts") or ""),
        "user": str(body["user"]["id"]),
        "team": _team(body),
    }


def _team(body: dict[str, Any]) -> str:
    return str((body.get("team") or {}).get("id") or body["user"].get("team_id", ""))


def _origin(deps: SlackDeps, delivery: str, body: dict[str, Any], where: dict[str, str]) -> Any:
    return deps.origin(
        delivery_id=delivery,
        channel=where["channel"],
        user=where["user"],
        user_name=str(body["user"].get("username") or body["user"].get("name") or ""),
        team=where["team"],
        thread=where["thread"],
    )
