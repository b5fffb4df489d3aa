"""Announcements kept until they are posted: at least once, and once where the platform can
tell a repeat.

A challenge's phase change is made once (`ChallengeStore.advance` claims it), and what it has
to say goes into the platform's outbox in the same transaction as the change itself, keyed by
challenge and phase: no crash leaves a change without its announcement. The adapter's
scheduler posts each entry and deletes it only after the post. An adapter that dies between
the change and the post leaves the entry for the next poller, which takes it once the dead
one's lease has lapsed. The key travels with the post (`nonce`: Discord drops a second
message with the same nonce in a channel), so a crash after the post but before the delete
does not show the announcement twice there.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from redis.asyncio import Redis

from bot.community.announcements import Announcement
from bot.keys import Keys
from bot.replies import Button

OUTBOX_LEASE_S = 10
NONCE_CHARS = 25  # Discord's longest nonce


def dumps(note: Announcement) -> str:
    buttons = [[b.label, b.id] for b in note.buttons]
    images = [list(image) for image in note.images]
    return json.dumps(
        {"channel": note.channel, "text": note.text, "buttons": buttons, "images": images}
    )


def loads(platform: str, key: str, raw: str) -> Announcement:
    data = json.loads(raw)
    buttons = tuple(Button(label, bid) for label, bid in data.get("buttons", []))
    images = tuple((str(caption), str(url)) for caption, url in data.get("images", []))
    return Announcement(platform, data["channel"], data["text"], buttons, key, images)


def nonce(key: str) -> str:
    """A short, stable stand-in for an outbox key, for platforms with a nonce limit."""
    return hashlib.sha256(key.encode()).hexdigest()[:NONCE_CHARS]


class Outbox:
    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    def entry(self, note: Announcement) -> tuple[str, str, str]:
        """The outbox field for an announcement: (hash key, field, value), for a caller that
        writes it with HSETNX in a transaction of its own (a challenge's phase change)."""
        value = json.dumps({**json.loads(dumps(note)), "at": time.time()})
        return self.keys.outbox(note.platform), note.key, value

    async def put(self, note: Announcement) -> None:
        """Keep an announcement until it is posted; a second put of its key changes nothing."""
        await self.redis.hsetnx(*self.entry(note))

    async def take(self, platform: str) -> list[Announcement]:
        """The entries waiting, oldest first, each leased to this caller for
        `OUTBOX_LEASE_S`. An entry another poster holds (or held, and died) stops the list
        there: what came after it waits, so voting never shows after its close."""
        waiting = await self.redis.hgetall(self.keys.outbox(platform))
        taken = []
        for key in sorted(waiting, key=lambda k: (json.loads(waiting[k]).get("at", 0), k)):
            lease = self.keys.outbox_lease(platform, key)
            if not await self.redis.set(lease, "1", nx=True, ex=OUTBOX_LEASE_S):
                break
            taken.append(loads(platform, key, waiting[key]))
        return taken

    async def posted(self, note: Announcement) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.outbox(note.platform), note.key)
            pipe.delete(self.keys.outbox_lease(note.platform, note.key))
            await pipe.execute()
