"""Fair scheduling with a real worker loop on a real Redis: one server floods, another
server's job still runs in the first or second batch; and a line stranded by a crash
between finish and promotion is picked up by the worker's own sweep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from bot.desk.front_desk import FrontDesk
from bot.desk.server_settings import SettingsStore
from bot.jobs import Job, JobKind, Origin
from bot.keys import Keys
from bot.queue.streams import JobQueue
from worker.generators.base import Output, ProgressFn
from worker.loop import Worker

pytestmark = pytest.mark.timeout(120)


class Recorder:
    """A fast text generator that records which jobs ran together, batch by batch."""

    kind = JobKind.TEXT
    name = "recorder"
    model_id = "recorder"
    device = "cpu"
    gather_ms = 0.0

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def load(self) -> None: ...

    def warmup(self) -> None: ...

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        self.batches.append([job.origin.guild_id for job in jobs])
        time.sleep(0.01)
        return [Output(text=f"a poem on {job.prompt}") for job in jobs]


def at(n: int, guild: str, user: str = "flooder") -> Origin:
    return Origin(
        platform="discord",
        route="discord",
        channel_id="c1",
        user_id=user,
        guild_id=guild,
        delivery_id=f"{guild}-{n}",
    )


async def run_until_done(queue: JobQueue, worker: Worker, job_ids: list[str]) -> None:
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            states = [(await queue.state(j)).get("state") for j in job_ids]
            if all(s == "done" for s in states):
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"jobs not done: {states}")
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=30)


@pytest.mark.parametrize("cap", [4, 1000])
async def test_a_flooding_server_holds_up_another_by_one_batch_at_most(
    redis_client: Redis, prefix: str, cap: int
) -> None:
    queue = JobQueue(redis_client, keys=Keys(prefix), visibility_timeout_s=30)
    store = SettingsStore(redis_client, keys=queue.keys)
    for name, value in (("jobs_per_minute", 600), ("member_max_running", 100)):
        await store.set("discord", "flood", name, str(value))
    await store.set("discord", "flood", "server_max_running", str(cap))
    desk = FrontDesk(queue, store)
    flood = [await desk.handle(f"/poem wave {n}", at(n, "flood")) for n in range(40)]
    assert not any(r.error for r in flood)
    other = await desk.handle("/poem a lone gull", at(0, "quiet", user="someone"))
    assert not other.error

    gen = Recorder()
    worker = Worker(queue, [gen], batch_size=4, heartbeat_s=0.5, block_ms=100)
    await run_until_done(queue, worker, [r.job_id or "" for r in [*flood, other]])

    quiet_batch = next(i for i, b in enumerate(gen.batches) if "quiet" in b)
    assert sum(len(b) for b in gen.batches) == 41  # nothing lost, nothing twice
    if cap == 4:  # the cap is the batch size: the quiet server waits one batch at most
        assert quiet_batch <= 1, gen.batches
        assert await redis_client.zcard(queue.keys.lines(JobKind.TEXT)) == 0
        assert await redis_client.zcard(queue.keys.running(JobKind.TEXT, "discord:flood")) == 0
    else:  # no effective cap: the quiet server waits behind all forty
        assert quiet_batch == 10, gen.batches


async def test_the_workers_sweep_runs_a_line_stranded_after_finish(
    redis_client: Redis, prefix: str
) -> None:
    queue = JobQueue(redis_client, keys=Keys(prefix), visibility_timeout_s=30)
    store = SettingsStore(redis_client, keys=queue.keys)
    await store.set("discord", "g1", "server_max_running", "1")
    desk = FrontDesk(queue, store)
    replies = [await desk.handle(f"/poem n{n}", at(n, "g1", user=f"u{n}")) for n in range(3)]
    assert [r.text.startswith("queued, #") for r in replies] == [True, True, True]
    assert "line" in replies[2].text

    class Crashing(Worker):
        """Dies (in effect) between finishing a job and releasing its slot."""

        async def _free_slots(self, jobs: Sequence[Job]) -> None:
            return None

    first = Crashing(queue, [Recorder()], batch_size=4, heartbeat_s=0.5, block_ms=100)
    first.fairness_sweep_s = 600  # its sweep runs once, at start, before any job finished
    task = asyncio.create_task(first.run())
    deadline = time.monotonic() + 30
    while (await queue.state(replies[0].job_id or "")).get("state") != "done":
        assert time.monotonic() < deadline, "the first job never finished"
        await asyncio.sleep(0.05)
    first.stop()
    await asyncio.wait_for(task, timeout=30)
    state = [(await queue.state(r.job_id or "")).get("state") for r in replies]
    assert state == ["done", "waiting", "waiting"], state  # stranded in the line

    gen = Recorder()
    rescuer = Worker(queue, [gen], batch_size=4, heartbeat_s=0.5, block_ms=100)
    rescuer.fairness_sweep_s = 0.2
    await run_until_done(queue, rescuer, [r.job_id or "" for r in replies])
    assert sum(len(b) for b in gen.batches) == 2
