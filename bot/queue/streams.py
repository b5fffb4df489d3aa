"""The job queue on Redis streams: enqueue, read, reclaim, finish, dead-letter.

Keys are documented in `bot.keys`. The two operations that must be atomic (idempotent
enqueue, and "store result + publish + ack" on finish) are Lua scripts, so a crash can
never leave a job half-enqueued or a result published but unacked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from bot.jobs import Job, JobKind, Progress, Result, dump
from bot.keys import DEAD_MAXLEN, RESULTS_MAXLEN, WORKER_GROUP, Keys
from bot.queue import entries as raw

QUEUE_FULL = "Atelier is very busy right now: the queue is full. Try again in a minute."

# KEYS: job hash, jobs stream, results stream, result key, dead stream.
# ARGV: group, entry id, result json, ttl, state, dead-letter json ('' for none), job id,
#       results maxlen, dead maxlen, now.
_FINISH = """
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' or state == 'failed' or state == 'dead' then return 0 end
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[9], '*', 'data', ARGV[6])
end
redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[4])
redis.call('HSET', KEYS[1], 'state', ARGV[5], 'finished', ARGV[10])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*',
           'type', 'result', 'job', ARGV[7], 'data', ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Finish:
    """One job's end for `JobQueue.finish_many`: its entry, its result, and the dead-letter
    record when it was given up."""

    kind: JobKind
    entry_id: str
    result: Result
    dead_letter: dict[str, Any] | None = None


@dataclass(frozen=True)
class Entry:
    """One stream entry as read by a worker: the raw fields, parsed later (may be poison).
    `unreadable` says why an entry that is not UTF-8 could not be read (it is buried)."""

    kind: JobKind
    entry_id: str
    fields: dict[str, str]
    unreadable: str = ""


class JobQueue:
    def __init__(
        self,
        redis: Redis,
        *,
        keys: Keys | None = None,
        job_ttl_s: int = 7 * 24 * 3600,
        max_queue_length: int = 1000,
        visibility_timeout_s: float = 120.0,
    ) -> None:
        # redis-py types replies as bytes | str unions; the client decodes, so: Any.
        self.redis: Any = redis
        self.keys = keys or Keys()
        self.job_ttl_s = job_ttl_s
        self.max_queue_length = max_queue_length
        self.visibility_timeout_s = visibility_timeout_s
        self._finish = redis.register_script(_FINISH)

    # Producer side -------------------------------------------------------------------
    async def ensure_group(self, kind: JobKind) -> None:
        try:
            await self.redis.xgroup_create(
                self.keys.jobs(kind), WORKER_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def state(self, job_id: str) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.job(job_id))  # type: ignore[no-any-return]

    async def position(self, kind: JobKind, job_id: str) -> int | None:
        """1 for next in line, 0 while being generated, None when finished or unknown."""
        info = await self.redis.hmget(self.keys.job(job_id), ["entry", "state"])
        entry, state = info[0], info[1]
        if entry is None or state in ("done", "failed", "dead"):
            return None
        last = await self._last_delivered(kind)
        if _stream_id(entry) <= _stream_id(last):
            return 0
        ahead = await raw.xrange(
            self.redis,
            self.keys.jobs(kind),
            start=f"({last}",
            end=entry,
            count=self.max_queue_length + 1,
        )
        return max(len(ahead), 1)

    async def depth(self, kind: JobKind) -> int:
        """Jobs waiting for a worker (not yet picked up)."""
        last = await self._last_delivered(kind)
        waiting = await raw.xrange(
            self.redis, self.keys.jobs(kind), start=f"({last}", count=self.max_queue_length + 1
        )
        return len(waiting)

    async def workers_alive(self, kind: JobKind) -> int:
        return int(await self.redis.zcount(self.keys.workers(kind), time.time(), "+inf"))

    async def _last_delivered(self, kind: JobKind) -> str:
        try:
            groups = await self.redis.xinfo_groups(self.keys.jobs(kind))
        except ResponseError:  # no stream yet
            return "0-0"
        for group in groups:
            if _text(group.get("name")) == WORKER_GROUP:
                return _text(group.get("last-delivered-id")) or "0-0"
        return "0-0"

    # Worker side ---------------------------------------------------------------------
    async def read(
        self, kinds: Sequence[JobKind], consumer: str, count: int, block_ms: int
    ) -> list[Entry]:
        streams = {self.keys.jobs(k): ">" for k in kinds}
        try:
            reply = await raw.xreadgroup(
                self.redis, WORKER_GROUP, consumer, streams, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or its group is gone (a Redis restarted without persistence, or
            # flushed): make them again and read on. Jobs enqueued later are not lost.
            for kind in kinds:
                await self.ensure_group(kind)
            return []
        return [_entry(self._kind_of(stream), item) for stream, items in reply for item in items]

    async def reclaim(self, kind: JobKind, consumer: str, count: int) -> list[Entry]:
        """Take over jobs another consumer left pending longer than the visibility timeout."""
        idle_ms = int(self.visibility_timeout_s * 1000)
        claimed = await raw.xautoclaim(
            self.redis,
            self.keys.jobs(kind),
            WORKER_GROUP,
            consumer,
            min_idle_ms=idle_ms,
            count=count,
        )
        return [_entry(kind, item) for item in claimed if item.fields]

    async def touch(self, kind: JobKind, consumer: str, entry_ids: Sequence[str]) -> None:
        """Reset the idle time of jobs this worker is still generating, so none is stolen."""
        if entry_ids:
            await self.redis.xclaim(
                self.keys.jobs(kind), WORKER_GROUP, consumer, 0, list(entry_ids), justid=True
            )

    async def read_own(
        self, kinds: Sequence[JobKind], consumer: str, count: int = 100
    ) -> list[Entry]:
        """Entries already delivered to `consumer` and not acked (XREADGROUP from id 0, page
        by page): jobs whose delivery never reached the worker (a reply lost with a dropped
        connection) or that a predecessor of the same name held when it died. An entry
        deleted from its stream while still pending has nothing left to run: it is acked."""
        found: list[Entry] = []
        after = {self.keys.jobs(k): "0" for k in kinds}
        while after:
            reply = await raw.xreadgroup(self.redis, WORKER_GROUP, consumer, after, count=count)
            after = {}
            for stream, items in reply:
                kind = self._kind_of(stream)
                gone = [item.entry_id for item in items if not item.fields]
                if gone:
                    await self.redis.xack(self.keys.jobs(kind), WORKER_GROUP, *gone)
                found += [_entry(kind, item) for item in items if item.fields]
                if len(items) == count:  # maybe more: read on after the last one
                    after[self.keys.jobs(kind)] = items[-1].entry_id
        return found

    async def start_attempt(self, job: Job, worker_id: str) -> int:
        """Count an attempt before generating: a worker killed mid-job still counts one."""
        [attempts] = await self.start_attempts([job], worker_id)
        return attempts

    async def start_attempts(self, jobs: Sequence[Job], worker_id: str) -> list[int]:
        """`start_attempt` for a whole batch in one round trip; the attempt count of each."""
        if not jobs:
            return []
        async with self.redis.pipeline(transaction=True) as pipe:
            for job in jobs:
                key = self.keys.job(job.id)
                pipe.hincrby(key, "attempts", 1)
                pipe.hset(key, mapping={"state": "running", "worker": worker_id})
            replies = await pipe.execute()
        return [int(n) for n in replies[::2]]

    async def finish(
        self,
        kind: JobKind,
        entry_id: str,
        result: Result,
        *,
        dead_letter: dict[str, Any] | None = None,
    ) -> bool:
        """Store and publish the result and ack the entry, atomically. False: the job had
        already finished (a reclaimed duplicate); nothing was published again."""
        [published] = await self.finish_many([Finish(kind, entry_id, result, dead_letter)])
        return published

    async def finish_many(self, finishes: Sequence[Finish]) -> list[bool]:
        """`finish` for a whole batch: one round trip, one atomic script per job. Each
        script refuses a second publish, so running one again (below) is harmless."""
        if not finishes:
            return []
        calls = [self._finish_call(f) for f in finishes]
        replies = await self._evalsha_all(calls)
        if any(isinstance(r, NoScriptError) for r in replies):  # a restarted, empty Redis
            await self.redis.script_load(_FINISH)
            replies = await self._evalsha_all(calls)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [bool(int(reply)) for reply in replies]

    async def _evalsha_all(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._finish.sha, len(keys), *keys, *args)
            return await pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

    def _finish_call(self, f: Finish) -> tuple[list[str], list[Any]]:
        result = f.result
        state = "done" if result.ok else ("dead" if f.dead_letter else "failed")
        keys = [
            self.keys.job(result.job_id),
            self.keys.jobs(f.kind),
            self.keys.results(result.origin.route),
            self.keys.result(result.job_id),
            self.keys.dead,
        ]
        args = [
            WORKER_GROUP,
            f.entry_id,
            dump(result),
            self.job_ttl_s,
            state,
            json.dumps(f.dead_letter) if f.dead_letter else "",
            result.job_id,
            RESULTS_MAXLEN,
            DEAD_MAXLEN,
            f"{time.time():.3f}",
        ]
        return keys, args

    async def bury(self, kind: JobKind, entry_id: str, fields: dict[str, str], reason: str) -> None:
        """Dead-letter an entry that has no usable job (malformed), and ack it."""
        record = {
            "job": fields,
            "kind": kind.value,
            "reason": reason,
            "at": time.time(),
            "entry": entry_id,
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.keys.dead, {"data": json.dumps(record)}, maxlen=DEAD_MAXLEN, approximate=True
            )
            pipe.xack(self.keys.jobs(kind), WORKER_GROUP, entry_id)
            pipe.xdel(self.keys.jobs(kind), entry_id)
            await pipe.execute()

    async def publish_progress(self, *progress: Progress) -> None:
        """Progress events, a whole batch's in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in progress:
                pipe.xadd(
                    self.keys.results(p.origin.route),
                    {"type": "progress", "job": p.job_id, "data": dump(p)},
                    maxlen=RESULTS_MAXLEN,
                    approximate=True,
                )
            await pipe.execute()

    async def heartbeat(
        self, kinds: Sequence[JobKind], worker_id: str, info: dict[str, str], interval_s: float
    ) -> None:
        deadline = time.time() + 3 * interval_s
        async with self.redis.pipeline(transaction=True) as pipe:
            for kind in kinds:
                pipe.zadd(self.keys.workers(kind), {worker_id: deadline})
                pipe.zremrangebyscore(self.keys.workers(kind), "-inf", time.time() - 3600)
            pipe.hset(self.keys.worker(worker_id), mapping=info)
            pipe.expire(self.keys.worker(worker_id), max(int(3 * interval_s), 1))
            await pipe.execute()

    async def worker_ttl_ms(self, worker_id: str) -> int:
        """Milliseconds left on a worker's heartbeat record; 0 once it is gone."""
        return max(int(await self.redis.pttl(self.keys.worker(worker_id))), 0)

    async def retire(self, kinds: Sequence[JobKind], worker_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for kind in kinds:
                pipe.zrem(self.keys.workers(kind), worker_id)
            pipe.delete(self.keys.worker(worker_id))
            await pipe.execute()

    async def dead_letters(self, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        return await self.redis.xrange(self.keys.dead, count=count)  # type: ignore[no-any-return]

    def _kind_of(self, stream: str) -> JobKind:
        return JobKind(_text(stream).rsplit(":", 1)[1])


def _entry(kind: JobKind, item: raw.Decoded) -> Entry:
    return Entry(kind, item.entry_id, item.fields, item.unreadable)


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
