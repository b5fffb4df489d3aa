"""The adapter side of the result stream: read results and progress, post each result once.

An adapter reads its route's stream with its own consumer group, claims a result before
posting it, marks it delivered after, and acks. A result read twice (a restart, a second
replica) is posted once. A delivered result joins its server's gallery here, so no adapter
keeps that book.
"""

from __future__ import annotations

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
from bot.keys import ADAPTER_GROUP, DEAD_MAXLEN, DELIVERY_CLAIM_S, Keys
from bot.queue import entries

log = logging.getLogger(__name__)


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
        """True if this adapter may post the result now (not delivered, not being posted)."""
        if await self.redis.exists(self.keys.delivered(job_id)):
            return False
        return bool(
            await self.redis.set(
                self.keys.delivering(job_id), self.consumer, nx=True, ex=DELIVERY_CLAIM_S
            )
        )

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
