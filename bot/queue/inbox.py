"""The adapter side of the result stream: read results and progress, post each result once.

An adapter reads its route's stream with its own consumer group, claims a result before
posting it, marks it delivered after, and acks. A result read twice (a restart, a second
replica) is posted once. A delivered result joins its server's gallery here, so no adapter
keeps that book.

Replicas: each one has its own consumer name (its pod's name) and refreshes a heartbeat key
(`adapter-alive:{route}:{consumer}`, `REPLICA_TTL_S`) about every second. A live replica takes
over the pending results of every consumer whose heartbeat is gone (`take_over`), and a
posting claim held by a dead replica is taken over as well, so a killed replica's share is
posted by the others within seconds, not after `DELIVERY_CLAIM_S`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.community.gallery import GalleryStore
from bot.jobs import Progress, Result, load_progress, load_result
from bot.keys import ADAPTER_GROUP, DEAD_MAXLEN, DELIVERY_CLAIM_S, REPLICA_TTL_S, Keys
from bot.queue import entries

log = logging.getLogger(__name__)
TAKE_OVER_PAGE = 200
FORGET_CONSUMER_MS = 3600_000  # a dead consumer with nothing pending is dropped after this
# KEYS: delivering:{id}. ARGV: the (dead) holder seen, me, claim seconds. The claim passes
# to me only if its holder is unchanged. One key, so it runs on a Redis Cluster as well.
_STEAL_CLAIM_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""


@dataclass(frozen=True)
class Event:
    entry_id: str
    job_id: str
    result: Result | None = None
    progress: Progress | None = None


class ResultInbox:
    def __init__(
        self,
        redis: Redis,
        route: str,
        consumer: str,
        *,
        keys: Keys | None = None,
        ttl_s: int = 7 * 24 * 3600,
    ) -> None:
        # redis-py types replies as bytes | str unions; the client decodes, so: Any.
        self.redis: Any = redis
        self.route = route
        self.consumer = consumer
        self.keys = keys or Keys()
        self.stream = self.keys.results(route)
        self.ttl_s = ttl_s
        self.gallery = GalleryStore(redis, keys=self.keys)

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, ADAPTER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(
        self, *, count: int = 50, block_ms: int = 1000, pending: bool = False
    ) -> list[Event]:
        """New events; with pending=True, this consumer's unacked ones (after a restart).
        An entry that is not UTF-8 is dead-lettered and acked here; the rest are read."""
        reply = await entries.xreadgroup(
            self.redis,
            ADAPTER_GROUP,
            self.consumer,
            {self.stream: "0" if pending else ">"},
            count=count,
            block=None if pending else block_ms,
        )
        events: list[Event] = []
        for _stream, items in reply:
            for item in items:
                if item.unreadable:
                    await self._bury(item)
                else:
                    events.append(self._event(item.entry_id, item.fields))
        return events

    async def _bury(self, item: entries.Decoded) -> None:
        log.error("dead-lettering an entry of %s: %s", self.stream, item.unreadable)
        record = {
            "job": item.fields,
            "kind": "result",
            "reason": item.unreadable,
            "at": time.time(),
            "entry": item.entry_id,
            "stream": self.stream,
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.keys.dead, {"data": json.dumps(record)}, maxlen=DEAD_MAXLEN, approximate=True
            )
            pipe.xack(self.stream, ADAPTER_GROUP, item.entry_id)
            await pipe.execute()

    async def claim(self, job_id: str) -> bool:
        """True if this adapter may post the result now (not delivered, not being posted by
        a live replica)."""
        if await self.redis.exists(self.keys.delivered(job_id)):
            return False
        delivering = self.keys.delivering(job_id)
        if await self.redis.set(delivering, self.consumer, nx=True, ex=DELIVERY_CLAIM_S):
            return True
        holder = await self.redis.get(delivering)
        if holder is None or holder == self.consumer:
            return bool(holder == self.consumer)
        if await self.redis.exists(self.keys.adapter_alive(self.route, holder)):
            return False  # a live replica is posting it
        stolen = await self.redis.eval(
            _STEAL_CLAIM_LUA, 1, delivering, holder, self.consumer, DELIVERY_CLAIM_S
        )
        if stolen:
            log.warning("took over the claim of dead replica %s on job %s", holder, job_id)
        return bool(stolen)

    async def beat(self) -> None:
        """This replica is alive for another `REPLICA_TTL_S` seconds."""
        await self.redis.set(
            self.keys.adapter_alive(self.route, self.consumer), "1", ex=REPLICA_TTL_S
        )

    async def keep_alive(self, every_s: float = 1.0) -> None:
        """Beat until cancelled, apart from the delivery loop (a slow post never lapses it)."""
        while True:
            try:
                await self.beat()
            except Exception as exc:  # Redis down: the delivery loop reports the outage
                log.debug("heartbeat failed: %s", exc)
            await asyncio.sleep(every_s)

    async def stop_beating(self, beating: asyncio.Task[None]) -> None:
        """A clean stop: the others may take this replica's pending results at once."""
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        try:
            await self.redis.delete(self.keys.adapter_alive(self.route, self.consumer))
        except Exception as exc:  # its TTL ends it anyway
            log.debug("could not end the heartbeat: %s", exc)

    async def take_over(self) -> list[Event]:
        """Move the pending results of consumers with no live heartbeat (killed or replaced
        replicas) to this one; return every event now pending here, oldest first."""
        moved = 0
        for other in await self.redis.xinfo_consumers(self.stream, ADAPTER_GROUP):
            name = str(other["name"])
            if name == self.consumer or await self.redis.exists(
                self.keys.adapter_alive(self.route, name)
            ):
                continue
            if int(other["pending"]):
                moved += await self._move_pending(name)
            elif int(other["idle"]) > FORGET_CONSUMER_MS:  # a replaced pod's name, long gone
                await self.redis.xgroup_delconsumer(self.stream, ADAPTER_GROUP, name)
        if not moved:
            return []
        log.warning("took over %d pending results of dead replicas", moved)
        return await self._all_pending()

    async def _move_pending(self, dead: str) -> int:
        moved = 0
        while True:
            pending = await self.redis.xpending_range(
                self.stream, ADAPTER_GROUP, "-", "+", TAKE_OVER_PAGE, consumername=dead
            )
            if not pending:
                return moved
            ids = [row["message_id"] for row in pending]
            await self.redis.xclaim(self.stream, ADAPTER_GROUP, self.consumer, 0, ids, justid=True)
            moved += len(ids)

    async def _all_pending(self) -> list[Event]:
        events: list[Event] = []
        after = "0"
        while True:
            reply = await entries.xreadgroup(
                self.redis,
                ADAPTER_GROUP,
                self.consumer,
                {self.stream: after},
                count=TAKE_OVER_PAGE,
            )
            items = [item for _stream, found in reply for item in found]
            if not items:
                return events
            for item in items:
                if item.unreadable:
                    await self._bury(item)
                else:
                    events.append(self._event(item.entry_id, item.fields))
            after = items[-1].entry_id

    async def delivered(self, event: Event) -> None:
        """The event's result was posted (or refused for good): mark it delivered, ack it, and
        keep the piece in its server's gallery."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.delivered(event.job_id), "1", ex=self.ttl_s)
            pipe.delete(self.keys.delivering(event.job_id))
            pipe.xack(self.stream, ADAPTER_GROUP, event.entry_id)
            await pipe.execute()
        if event.result is None:
            return
        try:  # after it is marked delivered: a gallery hiccup never posts a result twice
            await self.gallery.record(event.result)
        except Exception:
            log.exception("could not add job %s to the gallery", event.job_id)

    async def ack(self, *entry_ids: str) -> None:
        if entry_ids:
            await self.redis.xack(self.stream, ADAPTER_GROUP, *entry_ids)

    async def is_delivered(self, job_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.delivered(job_id)))

    async def drop(self) -> None:
        """Delete this route's stream (a console session that ends)."""
        await self.redis.delete(self.stream)

    def _event(self, entry_id: str, fields: dict[str, str]) -> Event:
        job_id = fields.get("job", "")
        try:
            if fields.get("type") == "result":
                return Event(entry_id, job_id, result=load_result(fields["data"]))
            if fields.get("type") == "progress":
                return Event(entry_id, job_id, progress=load_progress(fields["data"]))
        except (KeyError, ValidationError):
            pass
        return Event(entry_id, job_id)  # unreadable: acked and skipped by the caller
