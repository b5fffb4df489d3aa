"""A Redis server restarted (with AOF) while a worker process runs: no accepted job is lost,
the worker reconnects on its own, and every job is answered once."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import JobKind, Origin, Result, load_job, load_result
from bot.keys import Keys
from bot.queue.streams import Finish, JobQueue
from tests.conftest import _free_port, atelier_env
from tests.support.admission import admit
from tests.system.test_processes import spawn, wait_workers

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]
ROUTE = "console:restart"


class AofRedis:
    """A private redis-server with an append-only file, fsynced on every write (or as told:
    "everysec" loses up to the last second of writes to a SIGKILL)."""

    def __init__(self, workdir: Path, fsync: str = "always") -> None:
        self.fsync = fsync
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(shutil.which("redis-server")),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", self.fsync,
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=1).ping():
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def aof(tmp_path: Path) -> Iterator[AofRedis]:
    server = AofRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def enqueue(queue: JobQueue, first: int, count: int) -> list[str]:
    ids = []
    for n in range(first, first + count):
        origin = Origin(platform="console", route=ROUTE, user_id="u", delivery_id=f"r{n}")
        job = build_job(parse(f"/poem harbour {n} seed:{n}"), origin)
        await admit(queue, job)
        ids.append(job.id)
    return ids


async def results(client: Redis) -> dict[str, int]:
    """Job id -> how many results were published for it."""
    seen: dict[str, int] = {}
    for _, fields in await client.xrange(Keys("t:").results(ROUTE)):
        if fields["type"] == "result":
            job_id = load_result(fields["data"]).job_id
            seen[job_id] = seen.get(job_id, 0) + 1
    return seen


async def test_a_restarted_redis_loses_no_accepted_job(
    aof: AofRedis, tiny_gpt2: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    client = Redis.from_url(aof.url, decode_responses=True)
    queue = JobQueue(client, keys=Keys("t:"))
    log = tmp_path / "worker.log"
    # A short visibility timeout: a job whose finish hit the outage is reclaimed soon after.
    env = atelier_env(aof.url, "t:", tiny_gpt2, ATELIER_VISIBILITY_TIMEOUT="10")
    worker = spawn(procs, env, "worker", "--kinds", "text", "--batch-size", "4", log=log)
    await wait_workers(queue, 1, worker, log)
    first = await enqueue(queue, 0, 12)
    await client.aclose()

    aof.stop()  # mid-run: some jobs are done, some pending, some not yet read
    await asyncio.sleep(1.0)
    aof.start()

    client = Redis.from_url(aof.url, decode_responses=True)
    queue = JobQueue(client, keys=Keys("t:"))
    second = await enqueue(queue, 12, 8)  # accepted after the restart
    deadline = time.monotonic() + 150
    while set(await results(client)) < set(first + second):
        assert worker.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"jobs missing after the restart:\n{log.read_text()}"
        await asyncio.sleep(0.2)
    answered = await results(client)
    assert all(answered[j] == 1 for j in first + second), answered
    assert await client.xpending(queue.keys.jobs(JobKind.TEXT), "workers") == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip
    assert worker.poll() is None  # the worker never died: it reconnected
    await client.aclose()


async def test_a_batch_finishes_in_one_pipeline_after_a_restart_emptied_the_script_cache(
    aof: AofRedis,
) -> None:
    """`finish_many` sends the finish script by hash; a restarted Redis no longer knows it,
    so the queue loads it again and runs the batch, each job still published once."""
    client = Redis.from_url(aof.url, decode_responses=True)
    queue = JobQueue(client, keys=Keys("t:"))
    ids = await enqueue(queue, 0, 3)
    entries = await queue.read([JobKind.TEXT], "w", count=3, block_ms=100)
    jobs = [load_job(e.fields["job"]) for e in entries]
    assert await queue.start_attempts(jobs, "w") == [1, 1, 1]
    await client.aclose()
    aof.stop()
    aof.start()

    client = Redis.from_url(aof.url, decode_responses=True)
    queue = JobQueue(client, keys=Keys("t:"))
    assert await client.script_exists(queue._finish.sha) == [False]
    finishes = [
        Finish(
            JobKind.TEXT,
            entry.entry_id,
            Result(job_id=j.id, ok=True, command="poem", prompt=j.prompt, origin=j.origin),
        )
        for entry, j in zip(entries, jobs, strict=True)
    ]
    assert await queue.finish_many(finishes) == [True, True, True]
    assert await queue.finish_many(finishes) == [False, False, False]  # a reclaimed twin
    assert await results(client) == dict.fromkeys(ids, 1)
    assert (await client.xpending(queue.keys.jobs(JobKind.TEXT), "workers"))["pending"] == 0
    await client.aclose()
