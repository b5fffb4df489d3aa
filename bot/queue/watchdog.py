"""The adapters' watchdog: a job that waits while no worker of its kind is online gets a
progress note saying so, long before the platform's reply token expires ("no worker is
online; your job is kept and will run when one starts"). The note travels on the job's own
result stream, so every adapter shows it the way it shows progress.

Each adapter process runs one for its route; a job is noted once (a Redis flag), however many
replicas sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bot.errors import PoisonJob
from bot.jobs import JobKind, Progress, load_job
from bot.outage import Outage
from bot.queue import entries
from bot.queue.streams import JobQueue

log = logging.getLogger(__name__)
NO_WORKER = "waiting: no worker is online; your job is kept and will run when one starts"
NOTICE_AFTER_S = 10.0  # well inside Discord's 15 minutes and Slack's patience
SWEEP_EVERY_S = 5.0
SCAN_LIMIT = 1000


class Watchdog:
    def __init__(
        self,
        queue: JobQueue,
        route: str,
        *,
        notice_after_s: float = NOTICE_AFTER_S,
        every_s: float = SWEEP_EVERY_S,
    ) -> None:
        self.queue = queue
        self.route = route
        self.notice_after_s = notice_after_s
        self.every_s = every_s

    async def sweep(self) -> int:
        """Note the waiting jobs of this route whose kind has no worker; how many were noted."""
        noted = 0
        redis, keys = self.queue.redis, self.queue.keys
        for kind in JobKind:
            if await self.queue.workers_alive(kind) > 0:
                continue
            # Read entry by entry: one that is not UTF-8 is the worker's to bury, not ours.
            queued = await entries.xrange(redis, keys.jobs(kind), count=SCAN_LIMIT)
            raws = [e.fields.get("job", "") for e in queued if not e.unreadable]
            raws.extend(await self._in_lines(kind))
            for raw in raws:
                try:
                    job = load_job(raw)
                except PoisonJob:
                    continue
                if job.origin.route != self.route:
                    continue
                if time.time() - job.created_at < self.notice_after_s:
                    continue
                if not await redis.set(keys.noticed(job.id), "1", nx=True, ex=self.queue.job_ttl_s):
                    continue  # noted before (by this or another replica)
                progress = Progress(
                    job_id=job.id,
                    fraction=0.0,
                    stage=NO_WORKER,
                    origin=job.origin,
                    command=job.command,
                    prompt=job.prompt,
                )
                await self.queue.publish_progress(progress)
                noted += 1
        return noted

    async def _in_lines(self, kind: JobKind) -> list[str]:
        """The jobs waiting in servers' own lines (`fairness`) for a slot in the stream."""
        redis, keys = self.queue.redis, self.queue.keys
        ids: list[str] = await redis.zrange(keys.lines(kind), 0, SCAN_LIMIT - 1)
        if not ids:
            return []
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(keys.job(job_id), "job")
            return [raw for raw in await pipe.execute() if raw]

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        outage = Outage(log, "watchdog")
        while not stop.is_set():
            try:
                told = await self.sweep()
                outage.ok()
                if told:
                    log.warning("no worker is online: told the waiting requesters")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.failed(exc, "watchdog sweep failed; trying again", level=logging.WARNING)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
