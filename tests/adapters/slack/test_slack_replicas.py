"""Two Slack delivery replicas (real slack_sdk, the loopback Slack, real Redis) posting a
burst of results into one channel stay under Slack's per-channel pace together: they share
the channel's posting bucket in Redis, and every result is posted once."""

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
from bot.queue.inbox import ResultInbox
from bot.queue.post_limits import SLACK_POSTS
from bot.queue.streams import JobQueue
from tests.support.fake_slack import FakeSlack, block_text

pytestmark = pytest.mark.timeout(120)
CHANNEL = "CBUSY"
RESULTS = 8


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    try:
        yield slack
    finally:
        slack.stop()


def result(n: int) -> Result:
    origin = Origin(platform="slack", route=ROUTE, channel_id=CHANNEL, delivery_id=f"b-{n}")
    return Result(
        job_id=f"{n:08x}", ok=True, command="poem", prompt="tide", text=f"line {n} ends",
        origin=origin,
    )  # fmt: skip


async def test_two_replicas_share_one_channels_posting_pace(
    redis_server: str, queue: JobQueue, fake: FakeSlack
) -> None:
    other = Redis.from_url(redis_server, decode_responses=True)
    deliveries = []
    for name, redis in (("slack-r1", queue.redis), ("slack-r2", other)):
        replica = JobQueue(redis, keys=queue.keys)
        inbox = ResultInbox(redis, ROUTE, name, keys=queue.keys)
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        deliveries.append(Delivery(SlackDeps(FrontDesk(replica), client), inbox))
    tasks = [asyncio.create_task(d.run()) for d in deliveries]
    try:
        await deliveries[0].inbox.ensure_group()
        stream = queue.keys.results(ROUTE)
        for n in range(RESULTS):
            r = result(n)
            await queue.redis.xadd(stream, {"type": "result", "job": r.job_id, "data": dump(r)})
        deadline = time.monotonic() + 60
        while len(fake.find("chat.postMessage", channel=CHANNEL)) < RESULTS:
            assert time.monotonic() < deadline, fake.find("chat.postMessage", channel=CHANNEL)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing more comes
    finally:
        for d in deliveries:
            d.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await other.aclose()
    posts = fake.find("chat.postMessage", channel=CHANNEL)
    texts = sorted(block_text({"blocks": p.data.get("blocks") or []}) for p in posts)
    assert len(posts) == RESULTS
    for n in range(RESULTS):
        assert sum(f"line {n} ends" in t for t in texts) == 1
    at = sorted(p.at for p in posts)
    # A burst, then one a second: never more than burst + rate posts in any second.
    for i, start in enumerate(at):
        in_a_second = [t for t in at[i:] if t - start < 1.0]
        assert len(in_a_second) <= SLACK_POSTS.burst + SLACK_POSTS.per_s, at
    assert at[-1] - at[0] >= (RESULTS - SLACK_POSTS.burst) / SLACK_POSTS.per_s - 0.3, at
