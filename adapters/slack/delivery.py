"""The result stream `results:slack`: edit each job's message with progress (at most once a
second per message) and then with the result, posted once even if read twice.

Brainstorm results (`/brainstorm`, Expand, "more like #n") are handed to
`adapters.slack.brainstorm_results`; every other result is rendered here.
"""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import (
    context,
    escape,
    fallback,
    result_blocks,
    section,
    status_blocks,
)
from adapters.slack.brainstorm_results import BrainstormResults
from adapters.slack.context import Posted, SlackDeps
from adapters.slack.limits import ALT_TEXT, clip
from bot.commands.chain import credit_line
from bot.commands.render import (
    PLAIN_FORM_NOTE,
    REFUSED_ERROR,
    defuse_mentions,
    job_title,
    progress_text,
    render_result,
)
from bot.jobs import Result
from bot.logs import job_scope
from bot.metrics import Metrics
from bot.outage import Outage
from bot.queue import artifacts
from bot.queue.inbox import Event, ResultInbox
from bot.queue.post_limits import SLACK_POSTS, PostLimiter

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0
RETRY_PENDING_S = 30.0  # results Slack refused are tried again this often
GIVE_UP_S = 600.0  # ... for this long after the result was made
MESSAGE_WAIT_S = 5.0  # a result can beat the post of its job's message: wait this long for it
BEAT_EVERY_S = 1.0  # the replica's heartbeat, and a look for dead replicas' results
# Answers that say the message itself is wrong: sent again unchanged, it fails again.
REFUSED = ("invalid_blocks", "invalid_blocks_format", "msg_too_long")


class Delivery:
    def __init__(self, deps: SlackDeps, inbox: ResultInbox, metrics: Metrics | None = None) -> None:
        self.deps = deps
        self.inbox = inbox
        self.metrics = metrics or Metrics()
        self.brainstorms = BrainstormResults(deps)
        self.posts = PostLimiter(deps.redis, deps.keys, "slack", SLACK_POSTS)
        self._last_edit: dict[str, float] = {}  # message ts -> when it was last edited
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.inbox.ensure_group()
        beating = asyncio.create_task(self.inbox.keep_alive())
        try:
            await self._loop()
        finally:
            await self.inbox.stop_beating(beating)

    async def _loop(self) -> None:
        pending = True  # this consumer's unacked events first (after a restart)
        last_pending = time.monotonic()
        next_beat = 0.0
        outage = Outage(log, "Slack deliveries")
        while not self._stopping.is_set():
            try:
                events: list[Event] = []
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + BEAT_EVERY_S
                    events = await self.inbox.take_over()
                if not events:
                    events = await self.inbox.read(pending=pending, block_ms=500)
                outage.ok()
                for event in events:
                    with job_scope(event.job_id):
                        await self.handle(event)
                pending = time.monotonic() - last_pending > RETRY_PENDING_S
                if pending:
                    last_pending = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.failed(exc, "delivering results failed; retrying in 1 s")
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
        # A young job's message may not be posted yet. (A command held while Redis was down has
        # its message noted as the job's before the job is queued: `adapters.slack.held`.)
        recent = time.time() - result.created_at < MESSAGE_WAIT_S
        where = await self.deps.job_message(result.job_id, wait_s=MESSAGE_WAIT_S if recent else 0)
        if where is None:  # a new message: Slack's one a second per channel (edits: tier 3)
            await self.posts.wait(result.origin.channel_id)
        try:
            await self._deliver_or_plain(result, where)
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
        await self.inbox.delivered(event)
        self.metrics.posted("slack", "ok")
        log.info("posted the result of job %s", result.job_id)

    async def _progress(self, event: Event) -> None:
        assert event.progress is not None
        where = await self.deps.job_message(event.job_id)
        if where is None or await self.inbox.is_delivered(event.job_id):
            return
        now = time.monotonic()
        if now - self._last_edit.get(where.ts, 0.0) < PROGRESS_EVERY_S:
            return
        self._last_edit[where.ts] = now
        progress = event.progress
        title = job_title(progress.command, progress.prompt)
        status = progress_text(progress)
        try:
            await self.deps.update(
                where,
                status_blocks(title, status, event.progress.partial_text),
                fallback(title, status),
            )
        except SlackApiError as exc:
            log.info("progress edit skipped: %s", exc.response.get("error"))

    async def _deliver_or_plain(self, result: Result, where: Posted | None) -> None:
        """The result as usual; if Slack refuses its blocks, as plain text; if it refuses
        that too, a clear error. Never the refused message again."""
        try:
            await self._deliver(result, where)
            return
        except SlackApiError as exc:
            if exc.response.get("error") not in REFUSED:
                raise
            log.warning(
                "Slack refused the result of %s: %s", result.job_id, exc.response.get("error")
            )
        message = render_result(result)
        plain = [section(fallback(message.title, message.body)), context(PLAIN_FORM_NOTE)]
        try:
            shown = await self.deps.show(where, result.origin, plain, fallback(message.title))
        except SlackApiError as exc:
            if exc.response.get("error") not in REFUSED:
                raise
            error = [section(f":warning: {escape(REFUSED_ERROR)}")]
            await self.deps.show(where, result.origin, error, REFUSED_ERROR)
            return
        await self._upload(result, shown)

    async def _deliver(self, result: Result, where: Posted | None) -> None:
        self._last_edit.pop(where.ts if where else "", None)
        if result.ok and result.command == "brainstorm":
            await self.brainstorms.deliver(result, where)
            return
        message = render_result(result)
        name = result.origin.user_name
        credit = await credit_line(self.deps.redis, self.deps.keys, result.job_id)
        blocks = result_blocks(
            message, result.job_id, requester=name, command=result.command, credit=credit
        )
        text = fallback(message.title, message.body)
        shown = await self.deps.show(where, result.origin, blocks, text)
        await self._upload(result, shown)

    async def _upload(self, result: Result, shown: Posted) -> None:
        """The result's files (images, audio, MIDI) in one files_upload_v2 call, in the
        result's thread (or under the result message)."""
        uploads = [
            {
                "file": data,
                "filename": defuse_mentions(attachment.filename),
                "title": defuse_mentions(attachment.description or attachment.filename),
                "alt_txt": clip(defuse_mentions(attachment.description), ALT_TEXT) or None,
            }
            for attachment, data in await artifacts.fetch_all(self.deps.redis, result.attachments)
        ]
        if uploads:
            await self.deps.client.files_upload_v2(
                channel=shown.channel,
                thread_ts=shown.thread_ts or shown.ts,
                file_uploads=uploads,
            )
