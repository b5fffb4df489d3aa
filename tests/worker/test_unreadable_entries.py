"""A job-stream entry that is not valid UTF-8 (written by a client that does not encode) is
dead-lettered by id and acked, and the jobs around it still run: read fresh by the
continuous text loop, and reclaimed (XAUTOCLAIM) from a worker that was SIGKILLed holding
them. Real Redis, tiny real model, the worker in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.jobs import Job, JobKind
from bot.keys import WORKER_GROUP
from bot.queue.dead_letters import list_dead
from bot.queue.streams import JobQueue
from tests.support.admission import admit
from tests.worker.test_worker import make_job, run_worker, stop, wait_results
from worker.continuous_loop import ContinuousWorker
from worker.generators.text_lm import TextGenerator
from worker.loop import Worker

TEXT = JobKind.TEXT
NOT_UTF8 = {b"job": b'{"v": 1, "prompt": "caf\xe9 \xff"}'}


@pytest.fixture
async def raw_redis(redis_server: str) -> AsyncIterator[Redis]:
    """A client that writes and reads bytes as they are, as a foreign producer would."""
    client = Redis.from_url(redis_server)
    try:
        yield client
    finally:
        await client.aclose()


async def jobs_around_a_bad_entry(queue: JobQueue, raw_redis: Redis) -> tuple[list[Job], str]:
    """Ten jobs, an entry that is not UTF-8, ten more; the bad entry's id."""
    await queue.ensure_group(TEXT)
    jobs = [make_job(n, f"/poem harbour light {n} seed:{n}") for n in range(20)]
    for job in jobs[:10]:
        await admit(queue, job)
    bad = (await raw_redis.xadd(queue.keys.jobs(TEXT), NOT_UTF8)).decode()
    for job in jobs[10:]:
        await admit(queue, job)
    return jobs, bad


async def assert_buried_and_all_ran(queue: JobQueue, jobs: list[Job], bad: str) -> None:
    results = await wait_results(queue, len(jobs), timeout=90)
    assert sorted(r.job_id for r in results) == sorted(j.id for j in jobs)
    assert all(r.ok for r in results)
    [letter] = await list_dead(queue)  # what `atelier dlq list` shows
    assert letter.job is None and letter.kind == "text"
    assert f"unreadable entry {bad}: not valid UTF-8" in letter.reason
    assert letter.raw["entry"] == bad
    stream = queue.keys.jobs(TEXT)
    assert int((await queue.redis.xpending(stream, WORKER_GROUP))["pending"]) == 0
    assert await queue.redis.xlen(stream) == 0  # acked and removed, the bad one too


async def test_a_sigkilled_workers_jobs_are_reclaimed_past_an_entry_that_is_not_utf8(
    queue: JobQueue, raw_redis: Redis, tiny_gpt2: Path
) -> None:
    jobs, bad = await jobs_around_a_bad_entry(queue, raw_redis)
    assert await queue.depth(TEXT) == 21  # the place in line is counted past it, too
    # A worker took all 21 and was SIGKILLed: pending for it, in no one's hands, reclaimed
    # once idle past the visibility timeout (2 s here).
    taken = await raw_redis.xreadgroup(WORKER_GROUP, "w-killed", {queue.keys.jobs(TEXT): ">"})
    assert len(taken[0][1]) == 21
    worker = Worker(queue, [TextGenerator(str(tiny_gpt2), device="cpu")], heartbeat_s=0.5)
    task = await run_worker(worker)
    try:
        await assert_buried_and_all_ran(queue, jobs, bad)
    finally:
        await stop(worker, task)


async def test_the_continuous_loop_reads_on_past_an_entry_that_is_not_utf8(
    queue: JobQueue, raw_redis: Redis, tiny_gpt2: Path
) -> None:
    jobs, bad = await jobs_around_a_bad_entry(queue, raw_redis)
    gen = TextGenerator(str(tiny_gpt2), device="cpu")
    worker = ContinuousWorker(queue, [gen], batch_size=8, heartbeat_s=0.5, gather_ms=0)
    task = await run_worker(worker)
    try:
        await assert_buried_and_all_ran(queue, jobs, bad)
    finally:
        await stop(worker, task)
