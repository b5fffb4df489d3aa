"""Results back to Discord: read the adapter's result stream and post each result once.

Progress edits the deferred reply at most once a second with the text so far. The result
replaces it (embed, provenance footer, buttons, an attached `.txt` when the text is too long
for an embed). When the interaction token has expired, the result is posted as a channel
message that mentions the requester, with the job id as nonce so a repeat posts nothing new.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import discord
from redis.exceptions import ResponseError

from bot.commands.chain import credit_line
from bot.jobs import Progress, Result
from bot.keys import DELIVERY_CLAIM_S
from bot.logs import job_scope
from bot.metrics import Metrics
from bot.outage import Outage
from bot.queue import artifacts
from bot.queue.inbox import Event, ResultInbox
from bot.queue.post_limits import DISCORD_POSTS, PostLimiter

from .messages import (
    FILES_TOO_LARGE,
    NO_MENTIONS,
    Outgoing,
    progress_message,
    progress_title,
    requester_only,
    result_message,
)
from .replies import ReplyStore, StoredReply
from .views import result_view

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0
RETRY_EVERY_S = DELIVERY_CLAIM_S + 5.0
BEAT_EVERY_S = 1.0  # the replica's heartbeat, and a look for dead replicas' results


class Delivery:
    def __init__(
        self,
        client: discord.Client,
        inbox: ResultInbox,
        replies: ReplyStore,
        *,
        progress_every_s: float = PROGRESS_EVERY_S,
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.metrics = metrics or Metrics()
        self._stopping = asyncio.Event()
        self.inbox = inbox
        self.replies = replies
        self.progress_every_s = progress_every_s
        self._last_progress: dict[str, float] = {}
        self.posts = PostLimiter(inbox.redis, inbox.keys, "discord", DISCORD_POSTS)

    def stop(self) -> None:
        """Finish the results in hand, then return (SIGTERM). Results not read yet stay in
        the stream, and ones read but not posted stay pending for the next start."""
        self._stopping.set()

    async def run(self) -> None:
        await self.inbox.ensure_group()
        beating = asyncio.create_task(self.inbox.keep_alive())
        try:
            await self._loop()
        finally:
            await self.inbox.stop_beating(beating)

    async def _loop(self) -> None:
        next_retry = next_beat = 0.0
        outage = Outage(log, "Discord deliveries")
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + BEAT_EVERY_S
                    await self._handle_all(await self.inbox.take_over())
                # Unacked events first (after a restart), then again now and then: a result
                # Discord could not take (an outage) is retried once its claim has lapsed.
                pending = time.monotonic() >= next_retry
                if pending:
                    next_retry = time.monotonic() + RETRY_EVERY_S
                events = await self.inbox.read(pending=pending, block_ms=500)
                outage.ok()
                await self._handle_all(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    log.warning("the result stream was removed (Redis restarted?); making it again")
                    await self.inbox.ensure_group()
                    continue
                outage.failed(exc, "reading results failed; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def _handle_all(self, events: list[Event]) -> None:
        for event in events:
            with job_scope(event.job_id):
                await self.handle(event)

    async def handle(self, event: Event) -> None:
        if event.progress is not None:
            try:
                await self.progress(event.progress)
            except discord.HTTPException:
                log.warning("progress edit for job %s failed", event.job_id, exc_info=True)
            await self.inbox.ack(event.entry_id)
            return
        if event.result is None or not await self.inbox.claim(event.job_id):
            await self.inbox.ack(event.entry_id)  # unreadable, or posted already
            return
        try:
            await self.post(event.result)
        except (discord.DiscordServerError, aiohttp.ClientError, OSError):
            # Discord or the network is down: left pending, retried after the claim lapses.
            log.warning("posting job %s failed; will retry", event.job_id, exc_info=True)
            self.metrics.posted("discord", "retry")
            return
        except Exception:
            # Marked delivered anyway: a result Discord refuses is not retried forever.
            log.exception("could not post the result of job %s", event.job_id)
            self.metrics.posted("discord", "failed")
        else:
            self.metrics.posted("discord", "ok")
            log.info("posted the result of job %s", event.job_id)
        await self.inbox.delivered(event)
        self._last_progress.pop(event.job_id, None)

    async def progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last_progress.get(progress.job_id, 0.0) < self.progress_every_s:
            return
        ref = progress.origin.reply_ref
        async with self.replies.lock(ref):
            reply = await self.replies.get(ref)
            if reply is None or await self.inbox.is_delivered(progress.job_id):
                return
            if not await self.replies.take_original(reply, progress.job_id):
                return  # a sibling of a Variations click shows its progress
            self._last_progress[progress.job_id] = now
            job = progress_title(progress)
            await self._webhook(reply).edit_message(
                reply.message_id,
                content=progress_message(job, progress),
                allowed_mentions=NO_MENTIONS,
            )

    async def post(self, result: Result) -> None:
        """The result where its asker sees it. Files Discord refuses as too large (413) are
        left out and the post says so; the files stay in the gallery's provenance."""
        try:
            await self._post(result, with_files=True)
        except discord.HTTPException as exc:
            if exc.status != 413 or not result.attachments:
                raise
            log.warning("the files of job %s are too large for Discord", result.job_id)
            note = " ".join(filter(None, [result.note, FILES_TOO_LARGE]))
            await self._post(result.model_copy(update={"note": note}), with_files=False)

    async def _post(self, result: Result, *, with_files: bool) -> None:
        ref = result.origin.reply_ref
        view = result_view(result.job_id, result.command) if result.ok else None
        credit = await credit_line(self.inbox.redis, self.inbox.keys, result.job_id)
        async with self.replies.lock(ref):
            reply = await self.replies.get(ref)
            files = await self._files(result) if with_files else []
            if reply is not None:
                out = result_message(result, files=files, credit=credit)
                try:
                    if await self.replies.take_original(reply, result.job_id):
                        await self._edit(reply, out, view)
                    else:
                        await self._follow(reply, out, view)
                    return
                except discord.HTTPException as exc:
                    if exc.status not in (401, 404):
                        raise
                    # The reply was deleted, or the token ran out before its TTL said.
                    log.info("reply for job %s is gone; posting in the channel", result.job_id)
        await self._late(result, view, files, credit)

    async def _files(self, result: Result) -> list[tuple[str, bytes]]:
        found = await artifacts.fetch_all(self.inbox.redis, result.attachments)
        return [(attachment.filename, data) for attachment, data in found]

    async def _edit(self, reply: StoredReply, out: Outgoing, view: discord.ui.View | None) -> None:
        await self._webhook(reply).edit_message(
            reply.message_id,
            content=out.content,
            embed=out.embed,
            attachments=out.files(),
            view=view,
            allowed_mentions=NO_MENTIONS,
        )

    async def _follow(
        self, reply: StoredReply, out: Outgoing, view: discord.ui.View | None
    ) -> None:
        await self._webhook(reply).send(
            content=out.content or discord.utils.MISSING,
            embed=out.embed or discord.utils.MISSING,
            files=out.files() or discord.utils.MISSING,
            view=view or discord.utils.MISSING,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )

    async def _late(
        self,
        result: Result,
        view: discord.ui.View | None,
        files: list[tuple[str, bytes]],
        credit: str = "",
    ) -> None:
        """The token expired: a channel message mentioning the requester (only them)."""
        origin = result.origin
        if not origin.channel_id:
            log.warning("job %s has no channel to post its late result in", result.job_id)
            return
        user = origin.user_id if origin.user_id.isdigit() else ""
        out = result_message(result, mention=user, files=files, credit=credit)
        channel = self.client.get_partial_messageable(int(origin.channel_id))
        await self.posts.wait(origin.channel_id)  # channel posts: 5 per 5 s per channel
        await channel.send(
            content=out.content,
            embed=out.embed or discord.utils.MISSING,
            files=out.files() or discord.utils.MISSING,
            view=view or discord.utils.MISSING,
            allowed_mentions=requester_only(user) if user else NO_MENTIONS,
            nonce=result.job_id,  # Discord drops a second post with this nonce
        )

    def _webhook(self, reply: StoredReply) -> discord.Webhook:
        return discord.Webhook.partial(reply.app_id, reply.token, client=self.client)
