"""Two Discord delivery replicas (real discord.py REST, the loopback Discord, real Redis)
posting a burst of late results into one channel keep Discord's per-channel pace together:
they share the channel's posting bucket in Redis, and every result is posted once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import discord
import pytest
from redis.asyncio import Redis

from adapters.discord.app import point_at
from adapters.discord.delivery import Delivery
from adapters.discord.replies import ReplyStore
from bot.jobs import Origin, Result, dump
from bot.queue.inbox import ResultInbox
from bot.queue.post_limits import DISCORD_POSTS
from bot.queue.streams import JobQueue
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.timeout(120)
RESULTS = 9


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    base = discord.http.Route.BASE
    point_at(server.api_base, None)
    try:
        yield server
    finally:
        discord.http.Route.BASE = base
        await server.stop()


def result(n: int, channel: int) -> Result:
    origin = Origin(
        platform="discord", route="discord", channel_id=str(channel), delivery_id=f"p-{n}"
    )
    return Result(
        job_id=f"{n:08x}", ok=True, command="poem", prompt="tide", text=f"line {n}", origin=origin
    )


async def test_two_replicas_share_one_channels_posting_pace(
    redis_server: str, queue: JobQueue, fake: FakeDiscord
) -> None:
    other = Redis.from_url(redis_server, decode_responses=True)
    clients: list[discord.Client] = []
    deliveries: list[Delivery] = []
    for name, redis in (("discord-r1", queue.redis), ("discord-r2", other)):
        client = discord.Client(intents=discord.Intents.none())
        await client.login(fake.token)
        clients.append(client)
        inbox = ResultInbox(redis, "discord", name, keys=queue.keys)
        replies = ReplyStore(redis, queue.keys, token_ttl_s=870)
        deliveries.append(Delivery(client, inbox, replies))
    tasks = [asyncio.create_task(d.run()) for d in deliveries]

    def posts() -> list[float]:
        path = rf"^/channels/{fake.channel_id}/messages$"
        return sorted(c.at for c in fake.calls_to("POST", path))

    try:
        await deliveries[0].inbox.ensure_group()
        stream = queue.keys.results("discord")
        for n in range(RESULTS):
            r = result(n, fake.channel_id)
            await queue.redis.xadd(stream, {"type": "result", "job": r.job_id, "data": dump(r)})
        deadline = time.monotonic() + 60
        while len(posts()) < RESULTS:
            assert time.monotonic() < deadline, fake.summary()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing more comes
    finally:
        for d in deliveries:
            d.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.close()
        await other.aclose()
    nonces = sorted(m.get("nonce") for m in fake.visible_messages())
    assert nonces == sorted(f"{n:08x}" for n in range(RESULTS))
    at = posts()
    assert len(at) == RESULTS
    for i, start in enumerate(at):  # a burst, then one a second
        in_a_second = [t for t in at[i:] if t - start < 1.0]
        assert len(in_a_second) <= DISCORD_POSTS.burst + DISCORD_POSTS.per_s, at
    assert at[-1] - at[0] >= (RESULTS - DISCORD_POSTS.burst) / DISCORD_POSTS.per_s - 0.3, at
