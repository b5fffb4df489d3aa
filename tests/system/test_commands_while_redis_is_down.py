"""Commands that arrive while Redis is down (SIGKILLed, then started again on its AOF) are
held: by the real `atelier slack` and `atelier discord` processes and the console channel.
The platform gets its answer at once, the member sees "queued, the queue is reconnecting"
in the job's message, and the job runs once Redis is back; past ATELIER_REDIS_RECONNECT
the same message says to try again and nothing is queued. The test plays the worker
through the queue's worker API."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from adapters.console.chat import ConsoleChat
from bot.desk.front_desk import FrontDesk
from bot.jobs import JobKind
from bot.keys import Keys
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from tests.adapters.discord.test_discord_adapter import (
    ALICE,
    Adapter,
    answer_next_job,
    final_message,
    original,
    start_adapter,
)
from tests.conftest import _free_port, atelier_env
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_slack import FakeSlack, SignedClient, block_text
from tests.system.test_operations import eventually, get
from tests.system.test_processes import spawn
from tests.system.test_redis_restart import AofRedis

pytestmark = [pytest.mark.timeout(180), pytest.mark.chaos]
SECRET = "held-signing-secret-0123456789"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def adapters() -> Iterator[list[Adapter]]:
    started: list[Adapter] = []
    yield started
    for adapter in started:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.proc.kill()
            adapter.proc.wait(timeout=10)


@pytest.fixture
def aof(tmp_path: Path) -> Iterator[AofRedis]:
    server = AofRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def kill(server: AofRedis) -> None:
    assert server.proc is not None
    server.proc.kill()  # SIGKILL: no shutdown save, the AOF is all that is left
    server.proc.wait(timeout=10)


async def start_slack(
    slack: FakeSlack, aof: AofRedis, prefix: str, tmp_path: Path, procs: list[Any], window: str
) -> tuple[SignedClient, Path]:
    app_port, health = _free_port(), _free_port()
    env = atelier_env(
        aof.url,
        prefix,
        None,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        ATELIER_SLACK_API_URL=slack.api_url,
        ATELIER_METRICS_PORT=str(health),
        ATELIER_REDIS_RECONNECT=window,
    )
    log = tmp_path / "slack.log"
    app = spawn(procs, env, "slack", "--port", str(app_port), log=log)
    try:
        await eventually(lambda: get(health, "/readyz")[0] == 200, "the Slack adapter ready")
    except AssertionError:
        pytest.fail(f"not ready:\n{log.read_text()[-3000:]}")
    assert app.poll() is None
    return SignedClient(f"http://127.0.0.1:{app_port}/slack/events", SECRET, slack), log


def shown(slack: FakeSlack, channel: str) -> list[str]:
    return [block_text(m) for m in slack.in_channel(channel)]


async def test_a_command_while_redis_is_down_is_held_then_runs_when_it_is_back(
    slack: FakeSlack, aof: AofRedis, tmp_path: Path, procs: list[Any]
) -> None:
    prefix = f"held-{uuid.uuid4().hex[:8]}:"
    client, log = await start_slack(slack, aof, prefix, tmp_path, procs, "60")
    kill(aof)
    status, body, took = await client.command("/poem", "the harbour asleep seed:4", channel="CH")
    assert status == 200 and took < 3, (status, body, took)
    await eventually(
        lambda: any("queue is reconnecting" in t for t in shown(slack, "CH")),
        "the reconnecting message",
        timeout=10,
    )
    await asyncio.sleep(4.0)  # Redis stays down a while: the command waits, nothing else
    aof.start()

    redis = Redis.from_url(aof.url, decode_responses=True)
    queue = JobQueue(redis, keys=Keys(prefix))
    try:
        job = await asyncio.wait_for(answer_next_job(queue, "The harbour sleeps on."), 60)
        assert job.prompt == "the harbour asleep"
        await eventually(
            lambda: any("harbour sleeps on" in t for t in shown(slack, "CH")), "the result"
        )
    finally:
        await redis.aclose()
    assert slack.count("chat.postMessage", channel="CH") == 1  # the held message became the job's
    assert len(slack.in_channel("CH")) == 1
    assert not any("reconnecting" in t for t in shown(slack, "CH"))
    text = log.read_text()
    assert "Traceback" not in text, text
    assert text.count("Redis does not answer") <= 4, text  # one line per 10 s per loop


async def test_past_the_window_the_message_says_try_again_and_nothing_is_queued(
    slack: FakeSlack, aof: AofRedis, tmp_path: Path, procs: list[Any]
) -> None:
    prefix = f"held-{uuid.uuid4().hex[:8]}:"
    client, log = await start_slack(slack, aof, prefix, tmp_path, procs, "4")
    kill(aof)
    status, body, took = await client.command("/poem", "a lighthouse seed:5", channel="CT")
    assert status == 200 and took < 3, (status, body, took)
    await eventually(
        lambda: any("Try again in a minute" in t for t in shown(slack, "CT")),
        "the try-again message",
        timeout=20,
    )
    [message] = shown(slack, "CT")
    assert "/poem a lighthouse" in message and "did not come back within 4 seconds" in message
    aof.start()
    redis = Redis.from_url(aof.url, decode_responses=True)
    try:
        await asyncio.sleep(2.0)  # a held command that lived on would be enqueued by now
        assert await redis.xlen(Keys(prefix).jobs(JobKind.TEXT)) == 0
    finally:
        await redis.aclose()
    assert "Traceback" not in log.read_text()


async def test_the_console_holds_a_command_until_redis_is_back(aof: AofRedis) -> None:
    prefix = f"held-{uuid.uuid4().hex[:8]}:"
    redis = Redis.from_url(aof.url, decode_responses=True)
    queue = JobQueue(redis, keys=Keys(prefix))
    out = io.StringIO()
    route = ConsoleChat.route_for("h")
    inbox = ResultInbox(redis, route, "console", keys=queue.keys, ttl_s=600)
    chat = ConsoleChat(FrontDesk(queue), inbox, session="h", user="u", out=out, reconnect_s=60)
    down = asyncio.Event()

    async def lines() -> AsyncIterator[str]:
        await down.wait()
        yield "/poem a quiet pier seed:7"

    session = asyncio.create_task(chat.run(lines(), wait_s=60))
    await asyncio.sleep(0.5)  # the session's result stream is made
    kill(aof)
    down.set()
    await eventually(lambda: "queue is reconnecting" in out.getvalue(), "the held note", 10)
    await asyncio.sleep(3.0)
    aof.start()
    worker = Redis.from_url(aof.url, decode_responses=True)
    try:
        await asyncio.wait_for(answer_next_job(JobQueue(worker, keys=Keys(prefix)), "Pier."), 60)
        assert await asyncio.wait_for(session, 60) == 0, out.getvalue()
    finally:
        await worker.aclose()
        await redis.aclose()
    text = out.getvalue()
    assert "[1] Queued: the queue is reconnecting" in text and "[1] /poem a quiet pier" in text
    assert "Pier." in text and "error" not in text, text


async def test_discord_holds_a_command_until_redis_is_back(
    aof: AofRedis, tmp_path: Path, adapters: list[Adapter]
) -> None:
    prefix = f"held-{uuid.uuid4().hex[:8]}:"
    fake = await FakeDiscord().start()
    try:
        adapter = await start_adapter(adapters, fake, aof.url, prefix, tmp_path / "d.log")
        kill(aof)
        payload = fake.slash("poem", ALICE, {"prompt": "a quiet pier", "seed": 7})
        sent = await fake.dispatch(payload)

        def held() -> bool:
            message = original(fake, payload)
            return bool(message) and "queue is reconnecting" in str(message.get("content"))

        await fake.wait_for(held, timeout=15, what="the reconnecting reply")
        state = fake.interactions[int(payload["id"])]
        assert state.callback_at is not None and state.callback_at - sent < 3.0
        await asyncio.sleep(3.0)
        aof.start()
        redis = Redis.from_url(aof.url, decode_responses=True)
        try:
            queue = JobQueue(redis, keys=Keys(prefix))
            await asyncio.wait_for(answer_next_job(queue, "The pier keeps still."), 60)
            message = await final_message(fake, payload)
        finally:
            await redis.aclose()
        assert "The pier keeps still." in str(message["embeds"])
        assert "Traceback" not in adapter.text(), adapter.text()
        assert adapter.stop() == 0
    finally:
        await fake.stop()
