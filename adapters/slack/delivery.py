"""The result stream `results:slack`: edit each job's message with progress (at most once a
second per message) and then with the result, posted once even if read twice.

A brainstorm's first result becomes a session: the job's message turns into the thread's
parent and the numbered list is posted in the thread. Expand and "more like #n" results go
back into their session's thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import (
    body_sections,
    brainstorm_header,
    context,
    escape,
    fallback,
    idea_list_blocks,
    result_blocks,
    section,
    status_blocks,
)
from adapters.slack.brainstorm import refresh_list
from adapters.slack.context import PLATFORM, Posted, SlackDeps
from bot.commands.chain import credit_line
from bot.commands.render import progress_text, render_result
from bot.community.brainstorm import (
    EXPAND,
    MODEL_AUTHOR,
    MORE_IDEAS,
    Session,
    parse_ref,
    split_ideas,
)
from bot.jobs import Result
from bot.logs import job_scope
from bot.metrics import Metrics
from bot.queue import artifacts
from bot.queue.inbox import Event, ResultInbox

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0
RETRY_PENDING_S = 30.0  # results Slack refused are tried again this often
GIVE_UP_S = 600.0  # ... for this long after the result was made
MESSAGE_WAIT_S = 5.0  # a result can beat the post of its job's message: wait this long for it


class Delivery:
    def __init__(self, deps: SlackDeps, inbox: ResultInbox, metrics: Metrics | None = None) -> None:
        self.deps = deps
        self.inbox = inbox
        self.metrics = metrics or Metrics()
        self._last_edit: dict[str, float] = {}  # message ts -> when it was last edited
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.inbox.ensure_group()
        pending = True  # this consumer's unacked events first (after a restart)
        last_pending = time.monotonic()
        while not self._stopping.is_set():
            try:
                for event in await self.inbox.read(pending=pending, block_ms=500):
                    with job_scope(event.job_id):
                        await self.handle(event)
                pending = time.monotonic() - last_pending > RETRY_PENDING_S
                if pending:
                    last_pending = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivering results failed; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def handle(self, event: Event) -> None:
        if event.progress is not None:
            await self._progress(event)
            await self.inbox.ack(event.entry_id)
            return
        if event.result is None or not await self.inbox.claim(event.job_id):
            await self.inbox.ack(event.entry_id)  # unreadable, or posted already
            return
        result = event.result
        created = await self.deps.redis.hget(self.deps.keys.job(result.job_id), "created")
        recent = created is not None and time.time() - float(created) < MESSAGE_WAIT_S
        where = await self.deps.job_message(result.job_id, wait_s=MESSAGE_WAIT_S if recent else 0)
        try:
            await self._deliver(result, where)
        except SlackApiError as exc:
            if time.time() - result.finished_at > GIVE_UP_S:
                log.warning(
                    "giving up on the result of %s: %s", result.job_id, exc.response.get("error")
                )
                self.metrics.posted("slack", "failed")
                await self.inbox.ack(event.entry_id)
                return
            self.metrics.posted("slack", "retry")
            # Left pending and unclaimed: the loop reads its pending entries again later.
            await self.deps.redis.delete(self.deps.keys.delivering(result.job_id))
            log.warning(
                "posting the result of %s failed: %s", result.job_id, exc.response.get("error")
            )
            return
        await self.inbox.delivered(result.job_id, event.entry_id)
        self.metrics.posted("slack", "ok")
        log.info("posted the result of job %s", result.job_id)
        try:  # after it is marked delivered: a gallery hiccup never posts a result twice
            await self.deps.community.gallery.record(result)
        except Exception:
            log.exception("could not add job %s to the gallery", result.job_id)

    async def _progress(self, event: Event) -> None:
        assert event.progress is not None
        where = await self.deps.job_message(event.job_id)
        if where is None or await self.inbox.is_delivered(event.job_id):
            return
        now = time.monotonic()
        if now - self._last_edit.get(where.ts, 0.0) < PROGRESS_EVERY_S:
            return
        self._last_edit[where.ts] = now
        job = await self.deps.desk.stored_job(event.job_id)
        title = f"/{job.command} {job.prompt}" if job else "Atelier"
        status = progress_text(event.progress)
        try:
            await self.deps.update(
                where,
                status_blocks(title, status, event.progress.partial_text),
                fallback(title, status),
            )
        except SlackApiError as exc:
            log.info("progress edit skipped: %s", exc.response.get("error"))

    async def _deliver(self, result: Result, where: Posted | None) -> None:
        self._last_edit.pop(where.ts if where else "", None)
        ref = parse_ref(result.origin.reply_ref)
        if result.ok and ref is not None:
            await self._brainstorm_follow_up(result, where, *ref)
        elif result.ok and result.command == "brainstorm":
            await self._brainstorm_start(result, where)
        else:
            message = render_result(result)
            name = result.origin.user_name
            credit = await credit_line(self.deps.redis, self.deps.keys, result.job_id)
            blocks = result_blocks(
                message, result.job_id, requester=name, command=result.command, credit=credit
            )
            shown = await self._show(result, where, blocks, fallback(message.title, message.body))
            await self._upload(result, shown)

    async def _show(
        self, result: Result, where: Posted | None, blocks: list[Any], text: str
    ) -> Posted:
        if where is not None:
            await self.deps.update(where, blocks, text)
            return where
        origin = result.origin
        return await self.deps.post(origin.channel_id, blocks, text, origin.thread_id)

    async def _upload(self, result: Result, shown: Posted) -> None:
        """The result's files (images, audio, MIDI) in one files_upload_v2 call, in the
        result's thread (or under the result message)."""
        uploads = [
            {
                "file": data,
                "filename": attachment.filename,
                "title": attachment.description or attachment.filename,
                "alt_txt": attachment.description or None,
            }
            for attachment, data in await artifacts.fetch_all(self.deps.redis, result.attachments)
        ]
        if uploads:
            await self.deps.client.files_upload_v2(
                channel=shown.channel,
                thread_ts=shown.thread_ts or shown.ts,
                file_uploads=uploads,
            )

    async def _brainstorm_start(self, result: Result, where: Posted | None) -> None:
        job = await self.deps.desk.stored_job(result.job_id)
        count = int(job.options.get("count", 8)) if job else 8
        ideas, note = split_ideas(result.text, count)
        footer = render_result(result).footer
        parent = await self._show(
            result, where, brainstorm_header(result.prompt, footer), fallback(result.prompt)
        )
        origin = result.origin
        session = Session(
            id=result.job_id,
            topic=result.prompt,
            platform=PLATFORM,
            channel_id=parent.channel,
            thread_id=parent.ts,
            list_ref="",
            owner_id=origin.user_id,
            asked=count,
        )
        session = await self.deps.store.create(session, ideas)
        if session.list_ref:
            return  # a second delivery of the same result found the list already posted
        stored = await self.deps.store.ideas(session)
        listed = await self.deps.post(
            parent.channel,
            idea_list_blocks(session, stored, note),
            fallback(session.topic),
            parent.ts,
        )
        await self.deps.store.set_list_ref(session.id, listed.ts)

    async def _brainstorm_follow_up(
        self, result: Result, where: Posted | None, what: str, session_id: str, number: int
    ) -> None:
        session = await self.deps.store.get(session_id)
        footer = escape(render_result(result).footer)
        if session is None:
            return
        if what == EXPAND:
            idea = await self.deps.store.idea(session, number)
            title = f"*Idea #{number}, expanded:* {escape(idea.text if idea else '')}"
            blocks = [section(title), *body_sections(result.text.strip(), 45), context(footer)]
            await self._show(result, where, blocks, fallback(f"Idea #{number}", result.text))
            return
        ideas, _ = split_ideas(result.text, MORE_IDEAS)
        added = []
        for text in ideas:
            n = await self.deps.store.add_idea(session, text, "", MODEL_AUTHOR)
            if n:
                added.append(n)
        like = f" like #{number}" if number else ""
        if added:
            line = (
                f"Added {len(added)} more idea{'s' if len(added) != 1 else ''}{like}: "
                + ", ".join(f"#{n}" for n in added)
            )
        else:
            line = f"The model gave no usable ideas{like} this time; try again or add your own."
        await self._show(result, where, [section(line), context(footer)], fallback(line))
        await refresh_list(self.deps, session)
