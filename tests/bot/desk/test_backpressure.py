"""Backpressure through the front desk, against a real Redis (and once on the embedded
store): token buckets per member and per server, the member's cap on unfinished jobs, the
server's cap with its own line and promotion, and the queue cap counting that line. Every
refusal says what to do and enqueues nothing."""

from __future__ import annotations

import re

import fakeredis
from redis.asyncio import Redis

from bot.desk.front_desk import FrontDesk
from bot.desk.server_settings import SettingsStore
from bot.jobs import Job, JobKind, Origin, Result, load_job
from bot.keys import Keys
from bot.queue.streams import JobQueue
from bot.replies import Reply


def at(n: int | str, *, user: str = "u1", guild: str = "g1") -> Origin:
    return Origin(
        platform="discord",
        route="discord",
        channel_id="c1",
        user_id=user,
        guild_id=guild,
        delivery_id=f"interaction-{n}",
    )


async def configure(queue: JobQueue, guild: str = "g1", **values: int) -> SettingsStore:
    store = SettingsStore(queue.redis, keys=queue.keys)
    for name, value in values.items():
        await store.set("discord", guild, name, str(value))
    return store


def wait_in(reply: Reply) -> int:
    found = re.search(r"Try again in (\d+) seconds?\.", reply.text)
    assert found, reply.text
    return int(found.group(1))


async def stream_length(queue: JobQueue) -> int:
    return int(await queue.redis.xlen(queue.keys.jobs(JobKind.TEXT)))


async def finish_next(desk: FrontDesk, consumer: str = "w") -> Job:
    """What a worker does with the next entry: finish it, then release its slot."""
    [entry] = await desk.queue.read([JobKind.TEXT], consumer, count=1, block_ms=100)
    job = load_job(entry.fields["job"])
    result = Result(job_id=job.id, ok=True, command=job.command, prompt=job.prompt, text="x",
                    origin=job.origin)  # fmt: skip
    assert await desk.queue.finish(JobKind.TEXT, entry.entry_id, result)
    await desk.fairness.release(job)
    return job


async def test_member_bucket_refuses_with_the_wait_and_takes_nothing_for_duplicates(
    queue: JobQueue,
) -> None:
    desk = FrontDesk(queue, await configure(queue, jobs_per_minute=2))
    first = await desk.handle("/poem n0", at(0))
    again = await desk.handle("/poem n0", at(0))  # a redelivery: no token, no new job
    assert again.duplicate and again.job_id == first.job_id and not again.error
    second = await desk.handle("/poem n1", at(1))
    refused = await desk.handle("/poem n2", at(2))
    assert not first.error and not second.error
    assert refused.error and refused.job_id is None
    assert "2 a minute, this server's limit for each member" in refused.text
    assert 1 <= wait_in(refused) <= 30  # one token refills in 30 s at 2 a minute
    assert await stream_length(queue) == 2
    assert await desk.stored_job(refused.job_id or "x" * 24) is None
    # Another member of the same server has a bucket of their own.
    assert not (await desk.handle("/poem n3", at(3, user="u2"))).error


async def test_member_burst_then_paced_by_the_rate(queue: JobQueue) -> None:
    desk = FrontDesk(queue, await configure(queue, jobs_per_minute=60, member_burst=1))
    assert not (await desk.handle("/poem a", at(0))).error
    refused = await desk.handle("/poem b", at(1))
    assert refused.error and wait_in(refused) == 1
    assert "Try again in 1 second." in refused.text
    await queue.redis.hset(  # a second later, as the bucket sees it
        queue.keys.bucket("discord", "g1", "u1"), "at", "0"
    )
    assert not (await desk.handle("/poem b", at(2))).error
    assert await stream_length(queue) == 2


async def test_server_bucket_refuses_every_member_and_not_other_servers(queue: JobQueue) -> None:
    desk = FrontDesk(queue, await configure(queue, server_jobs_per_minute=3))
    replies = [await desk.handle(f"/poem n{n}", at(n, user=f"u{n}")) for n in range(4)]
    assert [r.error for r in replies] == [False, False, False, True]
    assert "faster than 3 a minute, its limit" in replies[3].text
    assert 1 <= wait_in(replies[3]) <= 20
    assert await stream_length(queue) == 3
    # The refused member's own bucket was not spent: a refusal takes nothing.
    assert not await queue.redis.exists(queue.keys.bucket("discord", "g1", "u3"))
    assert not (await desk.handle("/poem elsewhere", at(9, guild="g2"))).error


async def test_member_cap_on_unfinished_jobs(queue: JobQueue) -> None:
    desk = FrontDesk(queue, await configure(queue, member_max_running=2))
    assert not (await desk.handle("/poem a", at(0))).error
    assert not (await desk.handle("/poem b", at(1))).error
    refused = await desk.handle("/poem c", at(2))
    assert refused.error and "You already have 2 jobs in progress here" in refused.text
    assert "Try again when one has finished" in refused.text
    assert await stream_length(queue) == 2
    assert not (await desk.handle("/poem c", at(3, user="u2"))).error  # someone else
    await finish_next(desk)  # one of u1's jobs is done: room for one more
    assert not (await desk.handle("/poem c", at(4))).error
    assert (await desk.handle("/poem d", at(5))).error


async def test_server_cap_queues_in_its_line_and_promotes_in_order(queue: JobQueue) -> None:
    desk = FrontDesk(queue, await configure(queue, server_max_running=2))
    replies = [await desk.handle(f"/poem n{n}", at(n, user=f"u{n}")) for n in range(5)]
    assert not any(r.error for r in replies)
    assert await stream_length(queue) == 2  # the cap: the rest wait in the server's line
    assert "#1 in this server's line" in replies[2].text
    assert "#3 in this server's line" in replies[4].text
    assert "already has 2 jobs of this kind in progress" in replies[4].text
    again = await desk.handle("/poem n4", at(4, user="u4"))  # a redelivery of a waiting job
    assert again.duplicate and "#3 in this server's line" in again.text
    status = await desk.status_text(at("s", user="u3"))
    assert "text   5 waiting" in status and "#2 in this server's line" in status
    # Another server is not held up: its job goes straight into the stream.
    other = await desk.handle("/poem g2", at(9, guild="g2"))
    assert not other.error and other.text.startswith("queued, #3 in line")
    assert await stream_length(queue) == 3

    first = await finish_next(desk)
    assert first.id == replies[0].job_id
    entries = await queue.redis.xrange(queue.keys.jobs(JobKind.TEXT))
    ids = [e[1]["job"] for e in entries]
    assert replies[2].job_id in ids[-1]  # the head of the line, now behind g2's job
    assert (await queue.state(replies[2].job_id or ""))["state"] == "queued"
    assert await queue.redis.llen(queue.keys.line(JobKind.TEXT, "discord:g1")) == 2
    for _ in range(5):
        await finish_next(desk)
    assert await stream_length(queue) == 0
    states = [(await queue.state(r.job_id or ""))["state"] for r in replies]
    assert states == ["done"] * 5
    assert await queue.redis.zcard(queue.keys.lines(JobKind.TEXT)) == 0


async def test_a_finished_batch_frees_every_slot_and_promotes_each_line_at_once(
    queue: JobQueue,
) -> None:
    """A worker's batch holds jobs of several members and servers: one call frees all
    their slots (members' and servers') and moves each server's line on by what it freed."""
    store = await configure(queue, server_max_running=2)
    await store.set("discord", "g2", "server_max_running", "1")
    desk = FrontDesk(queue, store)
    g1 = [await desk.handle(f"/poem a{n}", at(n, user=f"u{n}")) for n in range(4)]
    g2 = [await desk.handle(f"/poem b{n}", at(10 + n, user=f"v{n}", guild="g2")) for n in range(3)]
    assert await stream_length(queue) == 3  # two of g1's, one of g2's; four wait in lines
    entries = await queue.read([JobKind.TEXT], "w", count=3, block_ms=100)
    jobs = [load_job(entry.fields["job"]) for entry in entries]
    for entry, job in zip(entries, jobs, strict=True):
        result = Result(job_id=job.id, ok=True, command=job.command, prompt=job.prompt,
                        origin=job.origin)  # fmt: skip
        assert await queue.finish(JobKind.TEXT, entry.entry_id, result)
    assert await desk.fairness.release_many(jobs) == 3  # g1's next two, g2's next one
    queued = [r.job_id for r in (*g1[2:], g2[1]) if r.job_id]
    assert [(await queue.state(job_id))["state"] for job_id in queued] == ["queued"] * 3
    assert (await queue.state(g2[2].job_id or ""))["state"] == "waiting"
    for job in jobs:  # no finished job still counts against its member or its server
        origin = job.origin
        assert origin.guild_id and origin.user_id
        member = queue.keys.member_jobs("discord", origin.guild_id, origin.user_id)
        assert await queue.redis.zscore(member, job.id) is None
    assert await queue.redis.zcard(queue.keys.running(JobKind.TEXT, "discord:g1")) == 2
    assert await queue.redis.zcard(queue.keys.running(JobKind.TEXT, "discord:g2")) == 1
    assert await desk.fairness.release_many([]) == 0


async def test_queue_cap_counts_waiting_jobs_and_says_busy(
    redis_client: Redis, prefix: str
) -> None:
    small = JobQueue(redis_client, keys=Keys(prefix), max_queue_length=3)
    desk = FrontDesk(small, await configure(small, server_max_running=1))
    replies = [await desk.handle(f"/poem n{n}", at(n, user=f"u{n}")) for n in range(4)]
    assert [r.error for r in replies] == [False, False, False, True]
    assert replies[3].text == (
        "Atelier is very busy right now: the queue is full. Try again in a minute."
    )
    assert await stream_length(small) == 1  # one in the stream, two in the line
    assert await redis_client.zcard(small.keys.lines(JobKind.TEXT)) == 2
    assert not await redis_client.exists(small.keys.bucket("discord", "g1", "u3"))


async def test_sweep_promotes_a_line_stranded_by_a_crash_after_finish(queue: JobQueue) -> None:
    desk = FrontDesk(queue, await configure(queue, server_max_running=1))
    first = await desk.handle("/poem a", at(0))
    second = await desk.handle("/poem b", at(1, user="u2"))
    assert "#1 in this server's line" in second.text
    [entry] = await queue.read([JobKind.TEXT], "w", count=1, block_ms=100)
    job = await desk.stored_job(first.job_id or "")
    assert job is not None
    result = Result(job_id=job.id, ok=True, command="poem", prompt="a", origin=job.origin)
    await queue.finish(JobKind.TEXT, entry.entry_id, result)  # ...and the worker dies here
    assert (await queue.state(second.job_id or ""))["state"] == "waiting"
    assert await desk.fairness.sweep([JobKind.TEXT]) == 1
    assert (await queue.state(second.job_id or ""))["state"] == "queued"
    [promoted] = await queue.read([JobKind.TEXT], "w", count=1, block_ms=100)
    assert second.job_id in promoted.fields["job"]
    assert await desk.fairness.sweep([JobKind.TEXT]) == 0  # nothing left to do
    assert await queue.redis.smembers(queue.keys.fair_servers(JobKind.TEXT)) == {"discord:g1"}


async def test_one_sweep_recovers_every_stranded_line_and_tidies_idle_servers(
    queue: JobQueue,
) -> None:
    """Twelve servers whose worker died between finishing a job and releasing its slot, and
    three with nothing left: one sweep moves each line on and drops the idle servers from
    the set it walks."""
    store = SettingsStore(queue.redis, keys=queue.keys)
    desk = FrontDesk(queue, store)
    stranded, idle = [f"s{n}" for n in range(12)], [f"i{n}" for n in range(3)]
    second = {}
    for guild in stranded + idle:
        await store.set("discord", guild, "server_max_running", "1")
        await desk.handle(f"/poem a {guild}", at(f"{guild}-a", guild=guild))
        if guild in stranded:
            reply = await desk.handle(f"/poem b {guild}", at(f"{guild}-b", user="u2", guild=guild))
            second[guild] = reply.job_id or ""
    entries = await queue.read([JobKind.TEXT], "w", count=100, block_ms=100)
    assert len(entries) == len(stranded) + len(idle)  # one running per server, the rest lined
    for entry in entries:
        job = load_job(entry.fields["job"])
        result = Result(job_id=job.id, ok=True, command=job.command, prompt=job.prompt,
                        origin=job.origin)  # fmt: skip
        await queue.finish(JobKind.TEXT, entry.entry_id, result)  # ...and no release
    assert await desk.fairness.sweep([JobKind.TEXT]) == len(stranded)
    for guild in stranded:
        assert (await queue.state(second[guild]))["state"] == "queued"
    servers = await queue.redis.smembers(queue.keys.fair_servers(JobKind.TEXT))
    assert servers == {f"discord:{guild}" for guild in stranded}  # the idle ones tidied out
    assert await desk.fairness.sweep([JobKind.TEXT]) == 0


async def test_buckets_caps_and_lines_on_the_embedded_store(prefix: str) -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    queue = JobQueue(redis, keys=Keys(prefix))
    desk = FrontDesk(queue, await configure(queue, jobs_per_minute=2, server_max_running=1))
    replies = [await desk.handle(f"/poem n{n}", at(n)) for n in range(3)]
    assert [r.error for r in replies] == [False, False, True]
    assert 1 <= wait_in(replies[2]) <= 30
    assert "#1 in this server's line" in replies[1].text
    await finish_next(desk)
    assert (await queue.state(replies[1].job_id or ""))["state"] == "queued"
    await redis.aclose()


async def test_limit_settings_are_validated_and_explained(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    bad = await desk.handle("/atelier settings key:server_max_running value:0", at(1), admin=True)
    assert bad.error and "server_max_running must be a whole number from 1 to 1000" in bad.text
    bad = await desk.handle("/atelier settings key:member_burst value:many", at(2), admin=True)
    assert bad.error and "member_burst must be a whole number from 0 to 600" in bad.text
    shown = await desk.handle("/atelier settings key:member_max_running value:5", at(3), admin=True)
    assert not shown.error and "member_max_running: 5" in shown.text
    for name in ("member_burst: 0", "server_jobs_per_minute: 300", "server_max_running: 16"):
        assert name in shown.text
    assert "own line" in shown.text  # the help says what the cap does
