"""Chaos: 200 signed Slack commands in flight through `atelier slack --port` (real
slack-bolt, the loopback Slack of `tests/support/fake_slack.py`) while the one `atelier worker` is
killed with SIGKILL twice, each time holding jobs, and started again. Every command must get
exactly one result, nothing may stay pending, and no job may be left unfinished."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.desk.server_settings import SettingsStore
from bot.jobs import JobKind
from bot.keys import ADAPTER_GROUP, WORKER_GROUP, Keys
from tests.conftest import _free_port, atelier_env
from tests.support.fake_slack import TEAM, FakeSlack, SignedClient, block_text
from tests.system.test_processes import spawn

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]
SECRET = "chaos-signing-secret-0123456789"
COMMANDS = 200
CHANNEL = "CCHAOS"
WORKER = "chaos-worker"  # one stable name: a restarted worker runs what the last one held
FINISHED = "made with tiny-gpt2"


def result_posts(fake: FakeSlack) -> Counter[int]:
    """Command number -> how many times a result for it was posted or edited in."""
    seen: Counter[int] = Counter()
    for call in fake.find("chat.postMessage", channel=CHANNEL) + fake.find(
        "chat.update", channel=CHANNEL
    ):
        text = block_text({"blocks": _blocks(call.data)})
        if FINISHED in text:
            found = re.search(r"/poem tide (\d+)\b", text)
            assert found, text
            seen[int(found[1])] += 1
    return seen


def _blocks(data: dict[str, Any]) -> Any:
    blocks = data.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


async def until(
    check: Callable[[], Any],
    what: str,
    logs: list[Path],
    timeout: float = 90,
    every: float = 0.05,
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}:\n{log.read_text()[-3000:]}" for log in logs)
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(every)


async def test_two_worker_kills_during_200_commands_lose_and_repeat_nothing(
    redis_server: str,
    redis_client: Redis,
    tiny_gpt2: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    fake = FakeSlack().start()
    prefix = f"atelier-chaos-{uuid.uuid4().hex[:8]}:"
    keys = Keys(prefix)
    stream = keys.jobs(JobKind.TEXT)
    port = _free_port()
    env = atelier_env(
        redis_server,
        prefix,
        tiny_gpt2,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        ATELIER_SLACK_API_URL=fake.api_url,
        ATELIER_HEARTBEAT="0.5",
        ATELIER_VISIBILITY_TIMEOUT="5",
        ATELIER_WORKER_ID=WORKER,
        # One thread: on a machine busier than its cores, OpenMP threads waiting for each
        # other turn a tenth of a second of tiny-model work into seconds.
        OMP_NUM_THREADS="1",
    )
    app_log = tmp_path / "app.log"
    worker_logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    runs: list[subprocess.Popen[str]] = []

    def start_worker() -> None:
        log = worker_logs[len(runs)]
        runs.append(spawn(procs, env, "worker", "--kinds", "text", "--batch-size", "16", log=log))

    async def ready() -> bool:
        assert runs[-1].poll() is None, worker_logs[len(runs) - 1].read_text()
        return "ready for text" in worker_logs[len(runs) - 1].read_text()

    async def done() -> int:
        return sum(1 for m in fake.in_channel(CHANNEL) if FINISHED in block_text(m))

    async def held() -> int:  # entries the live worker has been given and not yet finished
        info = await redis_client.xpending(stream, WORKER_GROUP)
        return int(info["pending"]) if info["pending"] else 0

    try:
        spawn(procs, env, "slack", "--port", str(port), log=app_log)
        client = SignedClient(f"http://127.0.0.1:{port}/slack/events", SECRET, fake)
        await until(lambda: _answers(client), "the Slack adapter", [app_log], timeout=60)
        # One workspace sends all 200: lift its caps so the whole flood is in the stream at
        # once (the fairness limits have their own tests, tests/bot/queue/test_fairness.py).
        workspace = SettingsStore(redis_client, keys=keys)
        await workspace.set("slack", TEAM, "server_max_running", "1000")
        await workspace.set("slack", TEAM, "server_jobs_per_minute", "6000")

        async def send(n: int) -> int:
            status, _, _ = await client.command(
                "/poem", f"tide {n} seed:{n}", channel=CHANNEL, user=f"UC{n}"
            )
            return status

        # All 200 at once (Slack wants each answered within 3 s). The worker starts after
        # they are in line, so however slow the sends are on a busy machine, both kills
        # land mid-run: it never gets through the 200 before the moments below.
        statuses = await asyncio.gather(*(send(n) for n in range(COMMANDS)))
        assert set(statuses) == {200}
        start_worker()
        await until(ready, "the first worker", [worker_logs[0], app_log])
        left = COMMANDS - 16  # the first kill once a batch is done
        for kill in (1, 2):
            # Mid-run and holding jobs: some finished, some in the worker's hands, the rest
            # waiting in the stream (finished entries are deleted from it).
            async def moment(left: int = left) -> bool:
                return await redis_client.xlen(stream) <= left and await held() > 0

            await until(moment, f"kill {kill}'s moment", [worker_logs[len(runs) - 1]])
            os.kill(runs[-1].pid, signal.SIGKILL)
            runs[-1].wait(timeout=10)
            remaining = await redis_client.xlen(stream)
            start_worker()
            await until(ready, f"worker run {len(runs)}", [worker_logs[len(runs) - 1]])
            # The next kill once the new worker ran what the last one held and more.
            left = remaining - 30

        async def all_done() -> bool:
            return await done() >= COMMANDS

        # Polled slowly: reading 200 messages takes the fake Slack's thread (in this process)
        # away from the adapter it serves.
        await until(all_done, f"{COMMANDS} results", [*worker_logs, app_log], 120, every=0.5)
        await asyncio.sleep(1.5)  # room for a duplicate to show up, if there were one

        posts = result_posts(fake)
        assert sorted(posts) == list(range(COMMANDS)), sorted(set(range(COMMANDS)) - set(posts))
        assert [n for n, times in posts.items() if times != 1] == []
        assert fake.count("chat.postMessage", channel=CHANNEL) == COMMANDS
        assert len(fake.in_channel(CHANNEL)) == COMMANDS
        for kind in JobKind:
            if await redis_client.exists(keys.jobs(kind)):
                info = await redis_client.xpending(keys.jobs(kind), WORKER_GROUP)
                assert info["pending"] == 0, (kind, info)
        states = Counter(
            [
                await redis_client.hget(key, "state")
                async for key in redis_client.scan_iter(f"{prefix}job:*")
            ]
        )
        assert states == {"done": COMMANDS}, states
        assert await redis_client.xlen(keys.dead) == 0
        # Each restarted worker ran the jobs its predecessor held as soon as it started.
        for log in worker_logs[1:]:
            assert f"delivered to {WORKER} but never run" in log.read_text(), log.read_text()

        async def adapter_acked() -> bool:
            info = await redis_client.xpending(keys.results("slack"), ADAPTER_GROUP)
            return int(info["pending"]) == 0

        await until(adapter_acked, "the adapter to ack every event", [app_log], timeout=20)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        keys_left = [key async for key in redis_client.scan_iter(f"{prefix}*")]
        if keys_left:
            await redis_client.delete(*keys_left)
        fake.stop()


async def _answers(client: SignedClient) -> bool:
    try:
        status, _, _ = await client.command("/atelier", "help", channel="CWARM", user="UWARM")
    except OSError:
        return False
    return status == 200
