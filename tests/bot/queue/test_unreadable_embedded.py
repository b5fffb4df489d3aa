"""`atelier up` without ATELIER_REDIS_URL runs on the embedded store (fakeredis): an entry
that is not valid UTF-8 is read past there too, marked unreadable with its id, and the
result inbox dead-letters and acks it."""

from __future__ import annotations

import fakeredis

from bot.jobs import JobKind
from bot.keys import ADAPTER_GROUP
from bot.queue.dead_letters import list_dead
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue

TEXT = JobKind.TEXT


async def test_the_embedded_store_reads_past_an_entry_that_is_not_utf8() -> None:
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    raw = fakeredis.FakeAsyncRedis(server=server)
    queue = JobQueue(redis)
    await queue.ensure_group(TEXT)
    stream = queue.keys.jobs(TEXT)
    await redis.xadd(stream, {"job": "{}"})
    bad = (await raw.xadd(stream, {b"job": b"\xff"})).decode()
    assert await queue.depth(TEXT) == 2
    read = await queue.read([TEXT], "w", 10, 10)
    assert [e.entry_id for e in read][1] == bad and read[0].unreadable == ""
    assert read[1].unreadable.startswith(f"unreadable entry {bad}: not valid UTF-8")
    assert [e.entry_id for e in await queue.read_own([TEXT], "w")] == [e.entry_id for e in read]

    inbox = ResultInbox(redis, "console:embedded", "c")
    await inbox.ensure_group()
    await raw.xadd(inbox.stream, {b"type": b"result", b"data": b"\xfe"})
    assert await inbox.read(block_ms=10) == []
    [letter] = await list_dead(queue)
    assert letter.raw["stream"] == inbox.stream and "not valid UTF-8" in letter.reason
    assert int((await redis.xpending(inbox.stream, ADAPTER_GROUP))["pending"]) == 0
