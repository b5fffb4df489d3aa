"""The front desk every adapter uses: command text in, a reply (and maybe a queued job) out.

Validation and prompt building happen here, at the edge, so a bad request never reaches
a worker. Adapters only translate platform events to `handle(...)` and replies back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.errors import UserError
from bot.jobs import Job, JobKind, Origin, job_id_for
from bot.parse import Invocation, parse
from bot.prompts import build_text_spec
from bot.queue import JobQueue
from bot.render import help_text, queued_text

_SEEDS = random.SystemRandom()


@dataclass(frozen=True)
class Reply:
    text: str
    job_id: str | None = None
    kind: JobKind | None = None
    error: bool = False
    duplicate: bool = False  # the platform delivered this command before


def build_job(inv: Invocation, origin: Origin, *, seed: int | None = None) -> Job:
    """A job from a validated invocation. The seed is chosen here, so it can be shown."""
    kind = inv.command.kind
    if kind is None:
        raise ValueError(f"/{inv.name} does not make a job")
    options = dict(inv.options)
    given_seed = options.pop("seed", None)
    chosen = int(given_seed) if given_seed is not None else seed
    if chosen is None:
        chosen = _SEEDS.randrange(2**31)
    text = build_text_spec(inv.command.name, inv.prompt, options) if kind is JobKind.TEXT else None
    return Job(
        id=job_id_for(origin.platform, origin.delivery_id),
        kind=kind,
        command=inv.command.name,
        prompt=inv.prompt,
        options=options,
        seed=chosen,
        text=text,
        origin=origin,
    )


class FrontDesk:
    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    async def handle(self, text: str, origin: Origin) -> Reply:
        try:
            inv = parse(text)
        except UserError as exc:
            return Reply(str(exc), error=True)
        if inv.path[0] == "atelier":
            return await self._atelier(inv)
        try:
            job = build_job(inv, origin)
            enqueued = await self.queue.enqueue(job)
        except UserError as exc:
            return Reply(str(exc), error=True)
        position = await self.queue.position(job.kind, job.id)
        workers = await self.queue.workers_alive(job.kind)
        return Reply(
            queued_text(position, workers), job.id, job.kind, duplicate=not enqueued.created
        )

    async def status_text(self) -> str:
        lines = ["Atelier status:"]
        for kind in JobKind:
            depth = await self.queue.depth(kind)
            workers = await self.queue.workers_alive(kind)
            lines.append(
                f"  {kind.value:<6} {depth} waiting, {workers} worker"
                f"{'s' if workers != 1 else ''} online"
            )
        return "\n".join(lines)

    async def _atelier(self, inv: Invocation) -> Reply:
        if inv.path[-1] == "status":
            return Reply(await self.status_text())
        return Reply(help_text(inv.prompt))
