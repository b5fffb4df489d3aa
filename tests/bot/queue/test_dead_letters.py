"""Dead letters for operators, against a real Redis: `atelier dlq list|retry|drop` as a real
process; a retried job is answered again (its old result and delivery mark forgotten)."""

from __future__ import annotations

import subprocess
import time

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import JobKind, Origin, Result
from bot.queue import dead_letters as dlq
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from tests.conftest import atelier_cmd, atelier_env
from tests.support.admission import admit


async def bury_one(queue: JobQueue, n: int) -> str:
    """A job that failed its last attempt, dead-lettered as the worker does it."""
    origin = Origin(platform="console", route="console:dlq", user_id="u", delivery_id=f"d{n}")
    job = build_job(parse(f"/poem doomed {n} seed:{n}"), origin)
    await admit(queue, job)
    [entry] = await queue.read([JobKind.TEXT], "w1", count=1, block_ms=100)
    await queue.start_attempt(job, "w1")
    failed = Result(
        job_id=job.id, ok=False, command="poem", prompt=job.prompt, error="gave up", origin=origin
    )
    record = {
        "job": job.model_dump(mode="json"),
        "kind": "text",
        "reason": "raised on every attempt",
        "attempts": 3,
        "at": time.time(),
    }
    await queue.finish(JobKind.TEXT, entry.entry_id, failed, dead_letter=record)
    return job.id


def run(redis_server: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = atelier_env(redis_server, prefix, None)
    return subprocess.run(
        atelier_cmd("dlq", *args), env=env, capture_output=True, text=True, timeout=60
    )


async def test_retry_puts_the_job_back_and_it_is_answered_again(
    queue: JobQueue, redis_server: str, prefix: str
) -> None:
    job_id = await bury_one(queue, 1)
    inbox = ResultInbox(queue.redis, "console:dlq", "c", keys=queue.keys)
    await inbox.ensure_group()
    [event] = await inbox.read(block_ms=100)
    assert await inbox.claim(job_id)
    await inbox.delivered(event)  # the user saw the error

    [letter] = await dlq.list_dead(queue)
    assert letter.job is not None and letter.job.id == job_id and letter.attempts == 3
    listed = run(redis_server, prefix, "list")
    assert listed.returncode == 0 and letter.entry_id in listed.stdout
    assert "raised on every attempt" in listed.stdout and job_id in listed.stdout

    retried = run(redis_server, prefix, "retry", letter.entry_id)
    assert retried.returncode == 0, retried.stderr
    assert f"job {job_id} is queued again" in retried.stdout
    assert await dlq.list_dead(queue) == []
    state = await queue.state(job_id)
    assert state["state"] == "queued" and state["attempts"] == "0"
    # A worker takes it again and finishes it; the adapter may post the new result.
    [entry] = await queue.read([JobKind.TEXT], "w2", count=1, block_ms=100)
    assert entry.fields["job"] == state["job"]
    ok = Result(
        job_id=job_id, ok=True, command="poem", prompt="p", text="verse", origin=letter.job.origin
    )
    assert await queue.finish(JobKind.TEXT, entry.entry_id, ok)
    [event] = await inbox.read(block_ms=100)
    assert event.result is not None and event.result.ok and await inbox.claim(job_id)


async def test_drop_and_mistakes(queue: JobQueue, redis_server: str, prefix: str) -> None:
    await bury_one(queue, 1)
    await queue.redis.xadd(queue.keys.dead, {"data": '{"job": {"x": 1}, "reason": "malformed"}'})
    letters = await dlq.list_dead(queue)
    assert [d.job is None for d in letters] == [False, True]
    refused = run(redis_server, prefix, "retry", letters[1].entry_id, "0-1")
    assert refused.returncode == 1
    assert "holds no readable job; drop it instead" in refused.stderr
    assert "no dead letter 0-1" in refused.stderr
    dropped = run(redis_server, prefix, "drop", letters[0].entry_id, letters[1].entry_id)
    assert dropped.returncode == 0 and dropped.stdout.count("dropped") == 2
    assert await dlq.list_dead(queue) == []
    assert "No dead letters." in run(redis_server, prefix, "list").stdout


def test_needs_a_shared_redis(prefix: str) -> None:
    out = subprocess.run(
        atelier_cmd("dlq", "list"),
        env=atelier_env(None, prefix, None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "ATELIER_REDIS_URL" in out.stderr
