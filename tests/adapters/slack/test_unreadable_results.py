"""A result-stream entry that is not valid UTF-8 is dead-lettered by id and acked, and the
results around it are posted to Slack: here all of them were read by an adapter that was
killed before posting, so they come back through the re-read of its pending entries (the
path that also retries results Slack refused). Real Redis, the loopback Slack, the real
slack_sdk client and the adapter's delivery loop in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.context import ROUTE, SlackDeps
from adapters.slack.delivery import Delivery
from bot.desk.front_desk import FrontDesk
from bot.jobs import Origin, Result, dump
from bot.keys import ADAPTER_GROUP
from bot.queue.dead_letters import list_dead
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.timeout(120)
CHANNEL = "CUNREADABLE"
CONSUMER = "slack-unreadable-test"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    try:
        yield slack
    finally:
        slack.stop()


def result(n: int) -> Result:
    origin = Origin(
        platform="slack", route=ROUTE, channel_id=CHANNEL, user_id="U1", delivery_id=f"d-{n}"
    )
    return Result(
        job_id=f"slack-unreadable-{n}",
        ok=True,
        command="poem",
        prompt="tide",
        text=f"poem {n}",
        origin=origin,
    )


async def test_results_around_an_entry_that_is_not_utf8_are_posted_once(
    redis_server: str, queue: JobQueue, fake: FakeSlack
) -> None:
    raw = Redis.from_url(redis_server)
    inbox = ResultInbox(queue.redis, ROUTE, CONSUMER, keys=queue.keys)
    await inbox.ensure_group()
    stream = queue.keys.results(ROUTE)
    results = [result(n) for n in range(20)]
    for r in results[:10]:
        await queue.redis.xadd(stream, {"type": "result", "job": r.job_id, "data": dump(r)})
    bad = await raw.xadd(stream, {b"type": b"result", b"job": b"j-bad", b"data": b'{"t": "\xff"}'})
    for r in results[10:]:
        await queue.redis.xadd(stream, {"type": "result", "job": r.job_id, "data": dump(r)})
    # The adapter read all 21 and was killed before posting any: pending for its name.
    taken = await raw.xreadgroup(ADAPTER_GROUP, CONSUMER, {stream: ">"})
    assert len(taken[0][1]) == 21
    await raw.aclose()

    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    delivery = Delivery(SlackDeps(FrontDesk(queue), client), inbox)
    task = asyncio.create_task(delivery.run())
    try:
        deadline = time.monotonic() + 30
        while True:
            if len(fake.in_channel(CHANNEL)) >= 20 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # time for a second post of any of them, if one came
    finally:
        delivery.stop()
        await asyncio.wait_for(task, timeout=10)

    texts = sorted(m["text"] for m in fake.in_channel(CHANNEL))
    assert len(texts) == 20
    assert all(any(f"poem {n}" in t for t in texts) for n in range(20))
    [letter] = await list_dead(queue)
    assert f"unreadable entry {bad.decode()}: not valid UTF-8" in letter.reason
    assert letter.raw["stream"] == stream and letter.job is None
    assert int((await queue.redis.xpending(stream, ADAPTER_GROUP))["pending"]) == 0
