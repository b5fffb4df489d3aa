"""Operators' view of the dead-letter stream (`atelier dlq list|retry|drop`).

A job lands there after its last failed attempt (the user was told), or when its stream entry
could not be read at all. `retry` puts a readable job back in line as it was, with its
attempts reset and its old result forgotten, so the fixed deployment answers it once more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.jobs import Job
from bot.queue.fairness import Fairness
from bot.queue.streams import JobQueue


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    at: float
    kind: str
    reason: str
    attempts: int
    job: Job | None  # None: the entry was malformed and cannot be retried
    raw: dict[str, Any]


def _parse(entry_id: str, fields: dict[str, str]) -> DeadLetter:
    try:
        record = json.loads(fields.get("data", "{}"))
    except json.JSONDecodeError:
        record = {}
    try:
        job: Job | None = Job.model_validate(record.get("job"))
    except ValidationError:
        job = None
    return DeadLetter(
        entry_id=entry_id,
        at=float(record.get("at", 0) or 0),
        kind=str(record.get("kind", "?")),
        reason=str(record.get("reason", "")),
        attempts=int(record.get("attempts", 0) or 0),
        job=job,
        raw=record,
    )


async def list_dead(queue: JobQueue, count: int = 100) -> list[DeadLetter]:
    return [_parse(entry_id, fields) for entry_id, fields in await queue.dead_letters(count)]


async def retry(queue: JobQueue, entry_id: str) -> str:
    """Re-enqueue the job of one dead letter, by the path every job takes (its server's caps
    apply: over them it waits in the server's line); returns its job id. Raises ValueError
    when the entry is unknown or holds no readable job, `UserError` when the queue is full
    (the letter is kept, so the retry can be run again)."""
    letter = await _find(queue, entry_id)
    if letter.job is None:
        raise ValueError(f"dead letter {entry_id} holds no readable job; drop it instead")
    job, keys, redis = letter.job, queue.keys, queue.redis
    # The old job's state goes first, or the admission would find the job and add nothing.
    await redis.delete(
        keys.job(job.id), keys.result(job.id), keys.delivered(job.id), keys.delivering(job.id)
    )
    await Fairness(queue).admit_stored(job, first=False)  # an operator's retry: no rate limit
    await redis.xdel(keys.dead, entry_id)
    return job.id


async def drop(queue: JobQueue, entry_id: str) -> None:
    await _find(queue, entry_id)
    await queue.redis.xdel(queue.keys.dead, entry_id)


async def _find(queue: JobQueue, entry_id: str) -> DeadLetter:
    found = await queue.redis.xrange(queue.keys.dead, min=entry_id, max=entry_id)
    if not found:
        raise ValueError(f"no dead letter {entry_id}; `atelier dlq list` shows them")
    return _parse(*found[0])
