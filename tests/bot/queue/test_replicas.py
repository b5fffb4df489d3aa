"""Several adapter replicas on one result stream (real Redis): a dead replica's pending
results and its posting claims move to a live one as soon as its heartbeat is gone, and
never while it beats; a channel's posting bucket is shared by every replica."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from bot.jobs import Origin, Result, dump
from bot.keys import REPLICA_TTL_S
from bot.queue.inbox import ResultInbox
from bot.queue.post_limits import PostLimiter, PostRate
from bot.queue.streams import JobQueue

pytestmark = pytest.mark.timeout(60)
ROUTE = "slack"


def result(n: int) -> Result:
    origin = Origin(platform="slack", route=ROUTE, channel_id="CREP", delivery_id=f"d-{n}")
    return Result(job_id=f"rep-{n}", ok=True, command="poem", prompt="tide", origin=origin)


async def test_a_dead_replicas_results_and_claims_move_to_a_live_one(queue: JobQueue) -> None:
    dead = ResultInbox(queue.redis, ROUTE, "slack-pod-a", keys=queue.keys)
    live = ResultInbox(queue.redis, ROUTE, "slack-pod-b", keys=queue.keys)
    await dead.ensure_group()
    await dead.beat()
    await live.beat()
    for n in range(5):
        r = result(n)
        await queue.redis.xadd(dead.stream, {"type": "result", "job": r.job_id, "data": dump(r)})
    read = await dead.read(block_ms=100)
    assert [e.job_id for e in read] == [f"rep-{n}" for n in range(5)]
    assert await dead.claim("rep-0")  # pod a was posting rep-0 when it died

    # While pod a beats, nothing moves and its claim holds.
    assert await live.take_over() == []
    assert not await live.claim("rep-0")

    # Its heartbeat lapses (SIGKILL: nobody renews it) ...
    ttl = await queue.redis.ttl(queue.keys.adapter_alive(ROUTE, "slack-pod-a"))
    assert 0 < ttl <= REPLICA_TTL_S
    await queue.redis.delete(queue.keys.adapter_alive(ROUTE, "slack-pod-a"))
    moved = await live.take_over()
    assert [e.job_id for e in moved] == [f"rep-{n}" for n in range(5)]
    assert all(e.result is not None for e in moved)
    assert await live.claim("rep-0")  # the dead pod's claim is taken over
    assert await live.claim("rep-1")
    assert not await dead.claim("rep-1")  # and a live holder's claim is never taken
    info = await queue.redis.xpending(live.stream, "adapters")
    assert {c["name"]: c["pending"] for c in info["consumers"]} == {"slack-pod-b": 5}
    for event in moved:
        await live.delivered(event)
    assert await live.take_over() == []
    assert not await live.claim("rep-0")  # delivered: nobody posts it again


async def test_a_clean_stop_hands_pending_results_over_at_once(queue: JobQueue) -> None:
    leaving = ResultInbox(queue.redis, ROUTE, "slack-pod-c", keys=queue.keys)
    staying = ResultInbox(queue.redis, ROUTE, "slack-pod-d", keys=queue.keys)
    await leaving.ensure_group()
    beating = asyncio.create_task(leaving.keep_alive(every_s=0.05))
    r = result(9)
    await queue.redis.xadd(leaving.stream, {"type": "result", "job": r.job_id, "data": dump(r)})
    assert len(await leaving.read(block_ms=100)) == 1
    await asyncio.sleep(0.1)
    assert await staying.take_over() == []
    await leaving.stop_beating(beating)
    assert [e.job_id for e in await staying.take_over()] == ["rep-9"]


async def test_replicas_share_one_posting_bucket_per_channel(
    redis_server: str, queue: JobQueue
) -> None:
    rate = PostRate(per_s=20.0, burst=2)
    other = Redis.from_url(redis_server, decode_responses=True)
    try:
        a = PostLimiter(queue.redis, queue.keys, "discord", rate)
        b = PostLimiter(other, queue.keys, "discord", rate)
        taken: list[float] = []

        async def post(limiter: PostLimiter, times: int) -> None:
            for _ in range(times):
                await limiter.wait("C1")
                taken.append(time.monotonic())

        start = time.monotonic()
        await asyncio.gather(post(a, 11), post(b, 11))
        elapsed = time.monotonic() - start
        # 22 posts, 2 at once then 20 a second: at least a second, for both together.
        assert elapsed >= (22 - 2) / 20 - 0.05
        assert elapsed < 3.0
        in_first_half_s = [t for t in taken if t - start < 0.5]
        assert len(in_first_half_s) <= 2 + 0.5 * 20 + 1
        # Another channel has a bucket of its own: not slowed by C1's.
        quick = time.monotonic()
        assert await a.wait("C2") == 0.0
        assert await b.wait("C2") == 0.0
        assert time.monotonic() - quick < 0.5
    finally:
        await other.aclose()
