"""Fair scheduling across servers, and the caps on unfinished jobs.

Each kind has one stream (`jobs:{kind}`), which workers read in batches and KEDA scales
on. A server may have at most `server_max_running` jobs of a kind in that stream (its
`running` set); more wait in the server's own `line` and are admitted to the stream as its
earlier jobs finish. So a server that sends 40 jobs holds at most its cap of places in the
shared stream, and another server's job waits behind at most that many: with the cap no
larger than the worker's batch, at most one batch.

- Admission (the front desk) is one Lua script: the duplicate check (job id from the
  delivery id), the queue cap (stream plus every line), the member's cap on unfinished
  jobs, then either the stream or the server's line, and the job's hash, all at once.
- Promotion moves the head of a line into the stream while the server is under its cap,
  one job per script call (each call names the job's hash among its keys).
- The worker releases a job's slot right after finishing it (done, failed or dead-lettered)
  and promotes the next of that server. A crash between the two leaves a finished job in a
  running set: the worker's periodic sweep drops finished jobs from running sets and
  promotes, so no line is ever stranded.

A waiting job is as durable as a queued one: its id is in Redis (`line`, `lines`) and its
JSON in its `job:{id}` hash (state `waiting`). Keys are documented in `bot.keys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.desk.server_settings import ServerSettings, SettingsStore
from bot.errors import UserError
from bot.jobs import Job, JobKind, Origin, dump
from bot.outage import Outage
from bot.queue.limits import TAKE_TOKENS_LUA, buckets_for, refusal_text
from bot.queue.streams import QUEUE_FULL, JobQueue

log = logging.getLogger(__name__)
FINISHED = ("done", "failed", "dead")
SWEEP_EVERY_S = 5.0

# KEYS: 1 job hash, 2 jobs stream, 3 running, 4 line, 5 lines, 6 fair-servers, 7 member-jobs,
#       8.. token buckets (`bot.queue.limits`; none for the second and third jobs of one command).
# ARGV: 1 job json, 2 ttl, 3 now, 4 queue cap (0: none), 5 server cap (0: no server, straight
#       to the stream), 6 member cap (0: not checked), 7 job id, 8 server ref, 9 '1' to count
#       the job as the member's, 10.. each bucket's rate and burst.
# Returns {1, entry, state, place in the line} | {0, entry, state, 0} (a duplicate: nothing
# taken or added) | {-1} (queue full) | {-2} (the member has too many unfinished jobs)
# | {-3, '', '', 0, bucket, wait} (a bucket is empty). A refusal takes and adds nothing.
_ADMIT = (
    TAKE_TOKENS_LUA
    + """
if redis.call('HEXISTS', KEYS[1], 'job') == 1 then
  local seen = redis.call('HMGET', KEYS[1], 'entry', 'state')
  return {0, seen[1] or '', seen[2] or '', 0}
end
local cap = tonumber(ARGV[4])
if cap > 0 and redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[5]) >= cap then
  return {-1, '', '', 0}
end
local member_cap = tonumber(ARGV[6])
if member_cap > 0 and redis.call('ZCARD', KEYS[7]) >= member_cap then
  return {-2, '', '', 0}
end
local now = tonumber(ARGV[3])
local worst, wait = take_tokens(8, 10, now)
if worst > 0 then return {-3, '', '', 0, worst, tostring(wait)} end
local server_cap = tonumber(ARGV[5])
local entry, state, place = '', 'queued', 0
if server_cap > 0 and (redis.call('ZCARD', KEYS[3]) >= server_cap
                       or redis.call('LLEN', KEYS[4]) > 0) then
  place = redis.call('RPUSH', KEYS[4], ARGV[7])
  redis.call('ZADD', KEYS[5], ARGV[3], ARGV[7])
  state = 'waiting'
  redis.call('HSET', KEYS[1], 'job', ARGV[1], 'state', state, 'attempts', 0,
             'created', ARGV[3])
else
  entry = redis.call('XADD', KEYS[2], '*', 'job', ARGV[1])
  redis.call('HSET', KEYS[1], 'job', ARGV[1], 'entry', entry, 'state', state,
             'attempts', 0, 'created', ARGV[3])
  if server_cap > 0 then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[7]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if server_cap > 0 then redis.call('SADD', KEYS[6], ARGV[8]) end
if ARGV[9] == '1' then
  redis.call('ZADD', KEYS[7], ARGV[3], ARGV[7])
  redis.call('EXPIRE', KEYS[7], ARGV[2])
end
return {1, entry, state, place}
"""
)

# KEYS: 1 running, 2 line, 3 lines, 4 fair-servers, 5 jobs stream, 6 the hash of job ARGV[2].
# ARGV: 1 server cap, 2 the job id expected at the head of the line ('' to look), 3 now,
#       4 server ref.
# Returns {code, head}: 1 promoted ARGV[2] (head: the next one), 2 the head is another job
# (call again naming it), 3 dropped a head whose job is gone or no longer waiting, 0 nothing
# to do (the line is empty, or the server is at its cap).
_PROMOTE = """
local head = redis.call('LINDEX', KEYS[2], 0)
if not head then
  if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[4], ARGV[4]) end
  return {0, ''}
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {0, head} end
if head ~= ARGV[2] then return {2, head} end
redis.call('LPOP', KEYS[2])
redis.call('ZREM', KEYS[3], head)
local after = redis.call('LINDEX', KEYS[2], 0) or ''
local saved = redis.call('HMGET', KEYS[6], 'job', 'state')
if not saved[1] or saved[2] ~= 'waiting' then return {3, after} end
local entry = redis.call('XADD', KEYS[5], '*', 'job', saved[1])
redis.call('HSET', KEYS[6], 'entry', entry, 'state', 'queued')
redis.call('ZADD', KEYS[1], ARGV[3], head)
return {1, after}
"""


@dataclass(frozen=True)
class Admitted:
    job_id: str
    entry_id: str
    created: bool  # False: a duplicate delivery; nothing new was enqueued
    state: str  # "queued" (in the stream) or "waiting" (in the server's line)
    place: int  # the place in the server's line while waiting, else 0


def server_ref(origin: Origin) -> str:
    return f"{origin.platform}:{origin.guild_id}"


class Fairness:
    def __init__(self, queue: JobQueue, settings: SettingsStore | None = None) -> None:
        self.queue = queue
        self.redis: Any = queue.redis
        self.keys = queue.keys
        self.settings = settings or SettingsStore(queue.redis, keys=queue.keys)
        self._admit = self.redis.register_script(_ADMIT)
        self._promote = self.redis.register_script(_PROMOTE)
        self._grouped: set[JobKind] = set()

    # Front desk ----------------------------------------------------------------------
    async def unfinished(self, origin: Origin) -> int:
        """The member's unfinished jobs in this server; finished ones leave the count here."""
        key = self.keys.member_jobs(origin.platform, origin.guild_id, origin.user_id)
        ids: list[str] = await self.redis.zrange(key, 0, -1)
        if not ids:
            return 0
        states = await self._states(ids)
        done = [i for i, state in zip(ids, states, strict=True) if state in (None, *FINISHED)]
        if done:
            await self.redis.zrem(key, *done)
        return len(ids) - len(done)

    async def admit_stored(self, job: Job, *, first: bool = True) -> Admitted:
        """`admit` under the job's server's stored settings: for callers without a front desk
        (the benches, `atelier dlq retry`), so every job enters by the same path and caps."""
        server = await self.settings.get(job.origin.platform, job.origin.guild_id)
        return await self.admit(job, server, first=first)

    async def admit(self, job: Job, server: ServerSettings, *, first: bool = True) -> Admitted:
        """Put a job in the stream or its server's line, once. `first`: the first job of a
        command, the one that takes the rate-limit tokens and meets the member's cap (the
        other jobs of an /inspire pack or of Variations follow it). Raises `UserError`
        saying why and when to try again; a refusal enqueues nothing."""
        origin = job.origin
        if job.kind not in self._grouped:  # a worker remakes a lost group itself
            await self.queue.ensure_group(job.kind)
            self._grouped.add(job.kind)
        ref = server_ref(origin)
        counted = bool(origin.guild_id and origin.user_id)
        member_cap = server.member_max_running if counted and first else 0
        if member_cap:
            await self.unfinished(origin)  # finished jobs leave the count first
        buckets = buckets_for(self.keys, origin, server) if first else []
        reply = await self._admit(
            keys=[
                self.keys.job(job.id),
                self.keys.jobs(job.kind),
                self.keys.running(job.kind, ref),
                self.keys.line(job.kind, ref),
                self.keys.lines(job.kind),
                self.keys.fair_servers(job.kind),
                self.keys.member_jobs(origin.platform, origin.guild_id, origin.user_id),
                *(b.key for b in buckets),
            ],
            args=[
                dump(job),
                self.queue.job_ttl_s,
                f"{time.time():.3f}",
                self.queue.max_queue_length,
                server.server_max_running if origin.guild_id else 0,
                member_cap,
                job.id,
                ref,
                "1" if counted else "0",
                *(arg for b in buckets for arg in b.args()),
            ],
        )
        code, entry, state, place = int(reply[0]), str(reply[1]), str(reply[2]), int(reply[3])
        if code == -1:
            raise UserError(QUEUE_FULL)
        if code == -2:
            raise UserError(
                f"You already have {member_cap} jobs in progress here, this server's limit "
                "for each member. Try again when one has finished (/atelier status shows them)."
            )
        if code == -3:
            raise UserError(refusal_text(buckets[int(reply[4]) - 1], float(reply[5])))
        return Admitted(job.id, entry, code == 1, state, place)

    async def place(self, job: Job) -> int | None:
        """1 for the head of its server's line; None when not waiting in one."""
        ref = server_ref(job.origin)
        found = await self.redis.lpos(self.keys.line(job.kind, ref), job.id)
        return None if found is None else int(found) + 1

    async def waiting(self, kind: JobKind) -> int:
        """Jobs of a kind waiting in some server's line (not yet in the stream)."""
        return int(await self.redis.zcard(self.keys.lines(kind)))

    # Worker side ---------------------------------------------------------------------
    async def release(self, job: Job) -> int:
        """A finished job (done, failed or dead) frees its slot; its server's next job in
        line, if any, goes into the stream. Returns how many were promoted."""
        return await self.release_many([job])

    async def release_many(self, jobs: Sequence[Job]) -> int:
        """`release` for a batch: one round trip frees every slot and reads each server's
        line; only servers with jobs waiting cost more. Returns how many were promoted."""
        lines: list[tuple[JobKind, str]] = []
        async with self.redis.pipeline(transaction=True) as pipe:
            for job in jobs:
                origin = job.origin
                if not origin.guild_id:
                    continue
                ref = server_ref(origin)
                pipe.zrem(self.keys.running(job.kind, ref), job.id)
                if origin.user_id:
                    key = self.keys.member_jobs(origin.platform, origin.guild_id, origin.user_id)
                    pipe.zrem(key, job.id)
                if (job.kind, ref) not in lines:
                    lines.append((job.kind, ref))
            for kind, ref in lines:
                pipe.llen(self.keys.line(kind, ref))
            replies = await pipe.execute() if lines else []
        waiting = replies[len(replies) - len(lines) :]
        promoted = 0
        for (kind, ref), count in zip(lines, waiting, strict=True):
            if int(count):
                promoted += await self.promote(kind, ref)
        return promoted

    async def promote(self, kind: JobKind, ref: str) -> int:
        """Move the head of a server's line into the stream while it is under its cap."""
        platform, _, server_id = ref.partition(":")
        cap = (await self.settings.get(platform, server_id)).server_max_running
        keys = [
            self.keys.running(kind, ref),
            self.keys.line(kind, ref),
            self.keys.lines(kind),
            self.keys.fair_servers(kind),
            self.keys.jobs(kind),
        ]
        promoted, expected = 0, ""
        for _ in range(cap + 1000):  # bounded: each call moves the line on or stops
            code, head = await self._promote(
                keys=[*keys, self.keys.job(expected or "-")],
                args=[cap, expected, f"{time.time():.3f}", ref],
            )
            if int(code) == 0:
                break
            promoted += int(code) == 1
            expected = str(head)  # "" once the line is empty: one more call tidies up
        return promoted

    async def sweep(self, kinds: Sequence[JobKind]) -> int:
        """Drop finished jobs from every running set and promote where there is room.
        Returns how many jobs were promoted. A few round trips whatever the number of
        servers: their running sets and lines are read together, their jobs' states
        together, and only servers with a line (or with nothing left, to tidy them out of
        the set) cost a call of their own."""
        promoted = 0
        for kind in kinds:
            refs = sorted(await self.redis.smembers(self.keys.fair_servers(kind)))
            if not refs:
                continue
            async with self.redis.pipeline(transaction=False) as pipe:
                for ref in refs:
                    pipe.zrange(self.keys.running(kind, ref), 0, -1)
                    pipe.llen(self.keys.line(kind, ref))
                replies = await pipe.execute()
            running: list[list[str]] = replies[0::2]
            waiting = [int(n) for n in replies[1::2]]
            ids = [job_id for held in running for job_id in held]
            states = dict(zip(ids, await self._states(ids), strict=True)) if ids else {}
            left = []
            async with self.redis.pipeline(transaction=False) as pipe:
                for ref, held in zip(refs, running, strict=True):
                    done = [i for i in held if states[i] in (None, *FINISHED)]
                    if done:
                        pipe.zrem(self.keys.running(kind, ref), *done)
                    left.append(len(held) - len(done))
                await pipe.execute()
            for ref, lined, busy in zip(refs, waiting, left, strict=True):
                if lined or not busy:  # room to fill, or nothing left: the script tidies it
                    promoted += await self.promote(kind, ref)
        return promoted

    async def sweep_forever(
        self, kinds: Sequence[JobKind], stopping: asyncio.Event, every_s: float = SWEEP_EVERY_S
    ) -> None:
        outage = Outage(log, "fairness sweep")
        while not stopping.is_set():
            try:
                moved = await self.sweep(kinds)
                outage.ok()
                if moved:
                    log.warning("fairness sweep admitted %d job(s) left waiting", moved)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.failed(exc, "fairness sweep failed; trying again", level=logging.WARNING)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=every_s)

    async def _states(self, ids: list[str]) -> list[str | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self.keys.job(job_id), "state")
            return list(await pipe.execute())
