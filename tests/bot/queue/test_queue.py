"""The Redis queue against a real Redis server: idempotent enqueue, place in line, workers
alive, reclaim, atomic finish, results posted once."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.desk.front_desk import FrontDesk
from bot.jobs import Job, JobKind, Origin, Result
from bot.keys import WORKER_GROUP
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from tests.support.admission import admit


def origin(n: int, route: str = "console:q") -> Origin:
    return Origin(
        platform="console", route=route, channel_id="c", user_id="u", delivery_id=f"delivery-{n}"
    )


def job(n: int, text: str = "/poem the sea seed:1") -> Job:
    return build_job(parse(text), origin(n))


async def test_enqueue_is_idempotent_even_when_concurrent(queue: JobQueue) -> None:
    j = job(1)
    results = await asyncio.gather(*(admit(queue, j) for _ in range(5)))
    assert sum(r.created for r in results) == 1
    assert len({r.entry_id for r in results}) == 1
    assert await queue.redis.xlen(queue.keys.jobs(JobKind.TEXT)) == 1
    again = await admit(queue, j)  # a duplicate delivery, later
    assert not again.created and again.entry_id == results[0].entry_id


async def test_front_desk_replies_with_place_in_line_and_workers(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    await queue.heartbeat([JobKind.TEXT], "w1", {"host": "h"}, interval_s=5)
    await queue.heartbeat([JobKind.TEXT], "w2", {"host": "h"}, interval_s=5)
    replies = [await desk.handle(f"/poem wave {n}", origin(n)) for n in range(3)]
    assert [r.text for r in replies] == [
        f"queued, #{n} in line, 2 workers online" for n in (1, 2, 3)
    ]
    dup = await desk.handle("/poem wave 0", origin(0))
    assert dup.duplicate and dup.job_id == replies[0].job_id
    # A worker takes the first job: it is "generating now", the others move up.
    taken = await queue.read([JobKind.TEXT], "w1", count=1, block_ms=100)
    assert len(taken) == 1
    assert await queue.position(JobKind.TEXT, replies[0].job_id or "") == 0
    assert await queue.position(JobKind.TEXT, replies[2].job_id or "") == 2
    assert await queue.depth(JobKind.TEXT) == 2
    await queue.retire([JobKind.TEXT], "w2")
    assert await queue.workers_alive(JobKind.TEXT) == 1


async def test_bad_command_enqueues_nothing(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    for text in ("/poem", "/poem x form:ode", "/nope", "/poem " + "y" * 1001, "/gallery"):
        reply = await desk.handle(text, origin(9))
        assert reply.error and reply.job_id is None
    assert await queue.redis.exists(queue.keys.jobs(JobKind.TEXT)) == 0


async def test_full_queue_says_busy(redis_client: Redis, prefix: str) -> None:
    from bot.keys import Keys

    small = JobQueue(redis_client, keys=Keys(prefix), max_queue_length=2)
    desk = FrontDesk(small)
    texts = [(await desk.handle(f"/poem n{n}", origin(n))).text for n in range(3)]
    assert texts[2].startswith("Atelier is very busy right now")
    assert await redis_client.xlen(small.keys.jobs(JobKind.TEXT)) == 2


async def test_reclaim_after_visibility_timeout_and_finish_publishes_once(
    queue: JobQueue,
) -> None:
    j = job(1)
    await admit(queue, j)
    [entry] = await queue.read([JobKind.TEXT], "dead-worker", count=1, block_ms=100)
    assert await queue.reclaim(JobKind.TEXT, "rescuer", count=10) == []  # not idle long enough
    await asyncio.sleep(queue.visibility_timeout_s + 0.1)
    [again] = await queue.reclaim(JobKind.TEXT, "rescuer", count=10)
    assert again.entry_id == entry.entry_id
    result = Result(
        job_id=j.id, ok=True, command="poem", prompt=j.prompt, text="waves", origin=j.origin
    )
    assert await queue.finish(JobKind.TEXT, again.entry_id, result) is True
    assert await queue.finish(JobKind.TEXT, entry.entry_id, result) is False  # the slow twin
    results = await queue.redis.xrange(queue.keys.results(j.origin.route))
    assert [f["type"] for _, f in results] == ["result"]
    pending = await queue.redis.xpending(queue.keys.jobs(JobKind.TEXT), WORKER_GROUP)
    assert pending["pending"] == 0
    assert (await queue.state(j.id))["state"] == "done"


async def test_touch_keeps_a_live_job_from_being_reclaimed(queue: JobQueue) -> None:
    await admit(queue, job(1))
    [entry] = await queue.read([JobKind.TEXT], "alive", count=1, block_ms=100)
    for _ in range(3):
        await asyncio.sleep(queue.visibility_timeout_s * 0.6)
        await queue.touch(JobKind.TEXT, "alive", [entry.entry_id])
    assert await queue.reclaim(JobKind.TEXT, "thief", count=10) == []


async def test_result_is_posted_once_even_if_read_twice(queue: JobQueue) -> None:
    j = job(1)
    await admit(queue, j)
    [entry] = await queue.read([JobKind.TEXT], "w", count=1, block_ms=100)
    result = Result(job_id=j.id, ok=True, command="poem", prompt="p", text="t", origin=j.origin)
    await queue.finish(JobKind.TEXT, entry.entry_id, result)
    one = ResultInbox(queue.redis, j.origin.route, "adapter-1", keys=queue.keys)
    two = ResultInbox(queue.redis, j.origin.route, "adapter-2", keys=queue.keys)
    await one.ensure_group()
    await one.beat()  # a replica that is posting is alive (its delivery loop beats)
    [event] = await one.read(block_ms=100)
    assert event.result is not None and event.result.text == "t"
    assert await one.claim(j.id)
    assert not await two.claim(j.id)  # a second replica does not post while one is posting
    await one.delivered(event)
    assert not await one.claim(j.id)  # delivered: never posted again
    assert await one.is_delivered(j.id)


async def test_a_vanished_group_is_made_again(queue: JobQueue) -> None:
    """After a Redis restart without persistence (here: the keys deleted), a worker's read
    makes the stream and group again instead of failing forever."""
    await queue.ensure_group(JobKind.TEXT)
    await queue.redis.delete(queue.keys.jobs(JobKind.TEXT))
    assert await queue.read([JobKind.TEXT], "w1", count=1, block_ms=10) == []
    await admit(queue, job(1))
    [entry] = await queue.read([JobKind.TEXT], "w1", count=1, block_ms=10)
    assert entry.kind is JobKind.TEXT
