"""`atelier` chat and worker processes on a Redis Cluster: the single-Redis process tests run
again on it, and a flood of 200 jobs with the slot's master SIGKILLed mid-flood and its
replica promoted: every job answered exactly once, or refused when it was offered."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.config import load_settings
from bot.connections import connect
from bot.jobs import Origin
from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.conftest import atelier_cmd, atelier_env
from tests.support.admission import admit
from tests.support.redis_cluster import RedisCluster
from tests.system.test_processes import (
    spawn,
    test_chat_and_worker_processes_on_a_real_redis,  # noqa: F401 (run here on the cluster)
    test_job_of_a_worker_killed_mid_job_is_reclaimed_and_answered_once,  # noqa: F401
    wait_workers,
)

FLOOD = 200
KILL_AT = 60
AFTER = 20  # offered once the replica has taken over: all of them accepted
PACE_S = 0.05  # commands arrive over about 10 s, not all at once
REFUSALS: list[str] = []


async def _offer(queue: JobQueue, n: int, route: str) -> tuple[str, bool]:
    job = build_job(
        parse(f"/poem flood number {n} seed:{n}"),
        Origin(platform="console", route=route, delivery_id=f"flood-{n}"),
    )
    try:
        await asyncio.wait_for(admit(queue, job), timeout=30)
    except (RedisError, TimeoutError) as exc:
        REFUSALS.append(repr(exc))
        return job.id, False  # refused: the caller was told the queue did not take it
    return job.id, True


async def _answers(redis: Redis, stream: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, fields in await redis.xrange(stream):
        if fields.get("type") == "result":
            counts[fields["job"]] = counts.get(fields["job"], 0) + 1
    return counts


async def test_a_flood_with_a_master_killed_is_answered_once_or_refused(
    own_cluster: RedisCluster,
    prefix: str,
    tiny_gpt2: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    env = atelier_env(own_cluster.url, prefix, tiny_gpt2, ATELIER_HEARTBEAT="0.5")
    settings = load_settings(redis_url=SecretStr(own_cluster.url), redis_prefix=prefix)
    redis_client = connect(settings, embedded_ok=False)
    try:
        await _flood(own_cluster, redis_client, env, prefix, tmp_path, procs)
    finally:
        await redis_client.aclose()


async def _flood(
    cluster: RedisCluster,
    redis_client: Redis,
    env: dict[str, str],
    prefix: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    log = tmp_path / "worker.log"
    worker = spawn(procs, env, "worker", "--kinds", "text", "--batch-size", "8", log=log)
    queue = JobQueue(redis_client, keys=Keys(prefix), max_queue_length=0)
    await wait_workers(queue, 1, worker, log)
    route = "console:flood"
    master = cluster.master_of(f"{prefix}slot")
    offered: list[tuple[str, bool]] = []
    for n in range(FLOOD):
        if n == KILL_AT:
            cluster.kill(master)
        offered.append(await _offer(queue, n, route))
        await asyncio.sleep(PACE_S)
    new_master = await asyncio.to_thread(cluster.wait_promoted, f"{prefix}slot", master)
    assert new_master != master
    assert all(ok for _, ok in offered[:KILL_AT]), REFUSALS[:3]
    after = [await _offer(queue, n, route) for n in range(FLOOD, FLOOD + AFTER)]
    assert all(ok for _, ok in after), f"refused after the failover: {REFUSALS[-3:]}"
    offered += after
    accepted = {job_id for job_id, ok in offered if ok}

    deadline = time.monotonic() + 240
    counts: dict[str, int] = {}
    while not accepted <= set(counts):
        assert worker.poll() is None, log.read_text()[-4000:]
        missing = len(accepted - set(counts))
        assert time.monotonic() < deadline, f"{missing} accepted jobs never answered"
        await asyncio.sleep(0.5)
        counts = await _answers(redis_client, queue.keys.results(route))
    await asyncio.sleep(2.0)  # room for a duplicate to show up, if there were one
    counts = await _answers(redis_client, queue.keys.results(route))
    twice = {job_id: n for job_id, n in counts.items() if n > 1}
    assert not twice, f"answered more than once: {twice}"
    assert set(counts) <= {job_id for job_id, _ in offered}


def _start_chat(
    env: dict[str, str], log: Path, procs: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    with log.open("w") as out:
        chat = subprocess.Popen(
            atelier_cmd("chat"), env=env, stdin=subprocess.PIPE, stdout=out,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    procs.append(chat)
    return chat


async def _type(chat: subprocess.Popen[str], cluster: RedisCluster, prefix: str) -> int:
    """Type the flood into the chat, SIGKILL the slot's master mid-way: its port."""
    assert chat.stdin is not None
    master = cluster.master_of(f"{prefix}slot")
    for n in range(1, FLOOD + 1):
        if n == KILL_AT:
            cluster.kill(master)
        chat.stdin.write(f"/poem f{n} seed:{n}\n")
        chat.stdin.flush()
        await asyncio.sleep(PACE_S)
    chat.stdin.close()
    return master


async def test_a_chat_flood_with_a_master_killed_is_answered_once_or_refused(
    own_cluster: RedisCluster,
    prefix: str,
    tiny_gpt2: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    """The real `atelier chat` and `atelier worker` processes: each of 200 commands gets its
    result once, or the member is told it was not queued."""
    env = atelier_env(own_cluster.url, prefix, tiny_gpt2, ATELIER_HEARTBEAT="0.5")
    worker_log, chat_log = tmp_path / "worker.log", tmp_path / "chat.log"
    worker = spawn(procs, env, "worker", "--kinds", "text", "--batch-size", "8", log=worker_log)
    settings = load_settings(redis_url=SecretStr(own_cluster.url), redis_prefix=prefix)
    redis_client = connect(settings, embedded_ok=False)
    try:
        await wait_workers(JobQueue(redis_client, keys=Keys(prefix)), 1, worker, worker_log)
    finally:
        await redis_client.aclose()
    chat = _start_chat(env, chat_log, procs)
    master = await _type(chat, own_cluster, prefix)
    await asyncio.to_thread(chat.wait, 300)
    text = chat_log.read_text()
    assert chat.returncode == 0, text[-4000:]
    assert own_cluster.master_of(f"{prefix}slot") != master
    lines = text.splitlines()
    answered = {
        n: sum(line.startswith(f"[{n}] /poem f{n}") for line in lines) for n in range(1, FLOOD + 1)
    }
    refused = sum(line.startswith("error:") for line in lines)
    assert all(count <= 1 for count in answered.values()), "a command answered twice"
    assert not any(line.startswith("[?]") for line in lines), "a result nobody asked for"
    unanswered = [n for n, count in answered.items() if count == 0]
    assert len(unanswered) == refused, f"unanswered {unanswered[:10]}, refused {refused}"
    assert len(unanswered) < FLOOD - KILL_AT, text[-4000:]
