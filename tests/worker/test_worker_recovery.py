"""A worker runs the jobs Redis handed to its consumer name but that it never ran (a reply
lost with a dropped connection, or a predecessor of the same name killed) at once, not after
the visibility timeout; and two live workers never share a name. Real Redis, tiny real
model, the worker in-process."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.errors import ConfigError
from bot.jobs import Job, JobKind
from bot.keys import WORKER_GROUP, Keys
from bot.queue.streams import JobQueue
from tests.support.admission import admit
from tests.worker.test_worker import make_job, run_worker, stop, wait_results
from worker.bench.queue import NoopGenerator
from worker.generators.base import Output, ProgressFn
from worker.generators.text_lm import TextGenerator
from worker.loop import Worker

VISIBILITY_S = 120.0  # far longer than any test here may take: no reclaim can help


class GatedGenerator(TextGenerator):
    """The tiny GPT-2, except that a job whose prompt says "gate" waits for `gate`: the test
    knows the worker is busy generating (not reading) until it lets go."""

    def __init__(self, model: str) -> None:
        super().__init__(model, device="cpu")
        self.gate = threading.Event()

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        if any("gate" in job.prompt for job in jobs):
            self.gate.wait(30)
        return super().generate(jobs, progress)


def slow_queue(redis: Redis, prefix: str) -> JobQueue:
    return JobQueue(redis, keys=Keys(prefix), visibility_timeout_s=VISIBILITY_S)


async def deliver_without_running(queue: JobQueue, consumer: str) -> list[str]:
    """Take waiting entries as `consumer` would, the way a read whose reply never arrived
    leaves them: pending for that consumer, in no worker's hands."""
    reply = await queue.redis.xreadgroup(
        WORKER_GROUP, consumer, {queue.keys.jobs(JobKind.TEXT): ">"}, count=100
    )
    return [entry_id for _, items in reply or [] for entry_id, _ in items]


async def pending(queue: JobQueue) -> int:
    info = await queue.redis.xpending(queue.keys.jobs(JobKind.TEXT), WORKER_GROUP)
    return int(info["pending"])


async def test_jobs_lost_with_a_dropped_connection_run_long_before_the_timeout(
    redis_server: str, redis_client: Redis, prefix: str, tiny_gpt2: Path
) -> None:
    name = f"lost-{prefix}"
    worker_redis = Redis.from_url(redis_server, decode_responses=True, client_name=name)
    queue = slow_queue(worker_redis, prefix)
    probe = slow_queue(redis_client, prefix)  # the test's own connection, never dropped
    gen = GatedGenerator(str(tiny_gpt2))
    worker = Worker(queue, [gen], worker_id="w-lost", batch_size=1, heartbeat_s=0.5, gather_ms=0)
    task = await run_worker(worker)
    try:
        first = make_job(0, "/poem gate seed:1")
        await admit(probe, first)
        deadline = time.monotonic() + 30
        while (await probe.state(first.id)).get("state") != "running":
            assert time.monotonic() < deadline, "the first job never started"
            await asyncio.sleep(0.02)
        # Busy generating, the worker reads nothing: these three go to its name but never
        # reach it, as when the reply of a read is lost with the connection.
        lost = [make_job(n, f"/poem lost {n} seed:{n}") for n in (1, 2, 3)]
        for job in lost:
            await admit(probe, job)
        assert len(await deliver_without_running(probe, "w-lost")) == 3
        started = time.monotonic()
        mine = [c["id"] for c in await redis_client.client_list() if c.get("name") == name]
        assert mine  # the worker's connections, dropped under it
        for client_id in mine:
            await redis_client.client_kill_filter(_id=client_id)
        gen.gate.set()

        results = await wait_results(probe, 4, timeout=VISIBILITY_S / 4)
        took = time.monotonic() - started
        assert sorted(r.job_id for r in results) == sorted(j.id for j in [first, *lost])
        assert took < VISIBILITY_S / 4, f"the lost jobs waited {took:.1f} s"
        assert all(r.ok and r.attempts == 1 for r in results)
        assert await pending(probe) == 0
    finally:
        gen.gate.set()
        await stop(worker, task)
        await worker_redis.aclose()


async def test_a_restarted_worker_of_the_same_name_runs_its_predecessors_jobs_at_once(
    queue: JobQueue, tiny_gpt2: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = slow_queue(queue.redis, queue.keys.prefix)
    jobs = [make_job(n, f"/poem harbour {n} seed:{n}") for n in range(3)]
    for job in jobs:
        await admit(queue, job)
    # The predecessor took the three and was killed: its heartbeat record lapses soon.
    assert len(await deliver_without_running(queue, "w-slot")) == 3
    await queue.redis.hset(queue.keys.worker("w-slot"), mapping={"pid": "1"})
    await queue.redis.pexpire(queue.keys.worker("w-slot"), 800)

    started = time.monotonic()
    worker = Worker(queue, [TextGenerator(str(tiny_gpt2), device="cpu")], worker_id="w-slot")
    with caplog.at_level(logging.INFO, logger="worker.loop"):
        task = await run_worker(worker)
        try:
            results = await wait_results(queue, 3, timeout=VISIBILITY_S / 4)
            took = time.monotonic() - started
        finally:
            await stop(worker, task)
    assert sorted(r.job_id for r in results) == sorted(j.id for j in jobs)
    assert took < VISIBILITY_S / 4, f"the predecessor's jobs waited {took:.1f} s"
    assert "waiting 0." in caplog.text  # for the predecessor's heartbeat to lapse first
    assert "running 3 job(s) delivered to w-slot but never run" in caplog.text
    assert await pending(queue) == 0


async def test_a_second_live_worker_with_the_same_name_refuses_to_start(queue: JobQueue) -> None:
    key = queue.keys.worker("w-twin")
    await queue.redis.hset(key, mapping={"pid": "1"})

    async def beat() -> None:  # a live worker of that name renews its record
        while True:
            await queue.redis.pexpire(key, 1000)
            await asyncio.sleep(0.1)

    beating = asyncio.create_task(beat())
    try:
        worker = Worker(queue, [NoopGenerator()], worker_id="w-twin")
        with pytest.raises(ConfigError, match="Another worker is running as 'w-twin'"):
            await asyncio.wait_for(worker.run(), timeout=10)
    finally:
        beating.cancel()
