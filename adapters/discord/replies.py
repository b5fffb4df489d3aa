"""Where a result goes back to: the deferred reply of the interaction that asked for it.

An interaction token lets the bot edit its reply for 15 minutes. The adapter keeps what an
edit needs in Redis (never in the job, never in a log) with a TTL that ends before the
token does; once it is gone, the result is posted as a channel message instead. Keyed by
the interaction id, which every job of that interaction carries as `origin.reply_ref`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

from bot.keys import Keys


@dataclass(frozen=True)
class StoredReply:
    interaction_id: str
    app_id: int
    token: str
    message_id: int
    expires_at: float

    def __repr__(self) -> str:  # the token stays out of every repr and log line
        return f"StoredReply(interaction={self.interaction_id}, message={self.message_id})"


class ReplyStore:
    def __init__(self, redis: Any, keys: Keys, *, token_ttl_s: float) -> None:
        self.redis = redis
        self.keys = keys
        self.token_ttl_s = token_ttl_s
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, interaction_id: str) -> asyncio.Lock:
        """One lock per reply in this process: the place-in-line edit, progress edits and
        the final edit of one reply never overtake each other."""
        lock = self._locks.get(interaction_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[interaction_id] = lock
        return lock

    async def save(
        self, interaction_id: str, *, app_id: int, token: str, message_id: int, created_at: float
    ) -> None:
        """Keep the reply until its token expires (counted from the interaction's creation)."""
        expires_at = created_at + self.token_ttl_s
        ttl_ms = int((expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        key = self.keys.discord_reply(interaction_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "app": app_id,
                    "token": token,
                    "message": message_id,
                    "expires": expires_at,
                },
            )
            pipe.pexpire(key, ttl_ms)
            await pipe.execute()

    async def get(self, interaction_id: str) -> StoredReply | None:
        """The reply if its token is still good, else None (post to the channel instead)."""
        if not interaction_id:
            return None
        data = await self.redis.hgetall(self.keys.discord_reply(interaction_id))
        try:
            reply = StoredReply(
                interaction_id,
                int(data["app"]),
                str(data["token"]),
                int(data["message"]),
                float(data["expires"]),
            )
        except (KeyError, ValueError):
            return None
        return reply if reply.expires_at > time.time() else None

    async def take_original(self, reply: StoredReply, job_id: str) -> bool:
        """True if this job's result goes into the deferred reply itself. An interaction
        with several jobs (Variations) gives it to the first; the others follow up."""
        key = self.keys.discord_reply(reply.interaction_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "original", job_id)
            pipe.hget(key, "original")
            pipe.pexpireat(key, int(reply.expires_at * 1000))  # never outlives the token
            _, owner, _ = await pipe.execute()
        return bool(owner == job_id)
