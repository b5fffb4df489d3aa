"""Operations of `atelier discord` as a real process against the loopback Discord: /healthz,
/readyz (ready when connected, not ready without a gateway), /metrics that count posts and
429s, JSON logs naming the job, and SIGTERM that posts the results in hand and exits 0.

Jobs are answered by the test through the queue's worker API (a prefix no worker serves),
so the timing of results is the test's to choose."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.keys import ADAPTER_GROUP, Keys
from bot.queue.streams import JobQueue
from tests.adapters.discord.test_discord_adapter import (
    ADMIN,
    ALICE,
    BOB,
    FINAL_EDIT,
    Adapter,
    adapters,  # noqa: F401 (a fixture)
    answer_next_job,
    fake,  # noqa: F401 (a fixture)
    final_message,
    start_adapter,
)
from tests.conftest import _free_port
from tests.support.fake_discord import FakeDiscord
from tests.system.test_operations import eventually, get, json_lines, sample


async def aget(port: int, path: str) -> tuple[int, str]:
    """GET from a thread: the fake Discord shares this test's event loop."""
    return await asyncio.to_thread(get, port, path)


pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def rc(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server, decode_responses=True)
    yield client
    await client.aclose()


async def test_discord_adapter_health_metrics_and_json_logs(
    fake: FakeDiscord,  # noqa: F811
    redis_server: str,
    prefix: str,
    rc: Redis,
    adapters: list[Adapter],  # noqa: F811
    tmp_path: Path,
) -> None:
    port = _free_port()
    adapter = await start_adapter(
        adapters,
        fake,
        redis_server,
        prefix,
        tmp_path / "a.log",
        ATELIER_METRICS_PORT=str(port),
        ATELIER_LOG_FORMAT="json",
    )
    await eventually(lambda: get(port, "/readyz") == (200, "ok\n"), "the adapter ready")
    assert await aget(port, "/healthz") == (200, "ok\n")
    before = (await aget(port, "/metrics"))[1]
    assert sample(before, "atelier_posts_total", platform="discord", status="ok") == 0
    assert sample(before, "atelier_platform_rate_limited_total", platform="discord") == 0

    fake.rate_limit("PATCH", FINAL_EDIT, retry_after=1.0)
    payload = fake.slash("poem", ALICE, {"prompt": "a metered sea", "seed": 3})
    await fake.dispatch(payload)
    queue = JobQueue(rc, keys=Keys(prefix))
    await eventually(
        lambda: sample(get(port, "/metrics")[1], "atelier_queue_depth", kind="text") == 1,
        "the job in the queue",
    )
    job = await answer_next_job(queue, "Waves count themselves.")
    await final_message(fake, payload)
    after = (await aget(port, "/metrics"))[1]
    assert sample(after, "atelier_posts_total", platform="discord", status="ok") == 1
    assert sample(after, "atelier_platform_rate_limited_total", platform="discord") == 1
    assert sample(after, "atelier_queue_depth", kind="text") == 0

    assert await asyncio.to_thread(adapter.stop) == 0
    lines = json_lines(adapter.text())
    posted = [x for x in lines if x.get("job_id") == job.id and "posted" in x["message"]]
    assert posted and posted[0]["logger"] == "adapters.discord.delivery", lines
    assert payload["token"] not in adapter.text() and fake.token not in adapter.text()


async def test_discord_adapter_is_alive_but_not_ready_while_discord_is_away(
    redis_server: str,
    prefix: str,
    adapters: list[Adapter],  # noqa: F811
    tmp_path: Path,
) -> None:
    discord = await FakeDiscord().start()  # this test takes it away halfway
    port = _free_port()
    try:
        adapter = await start_adapter(
            adapters, discord, redis_server, prefix, tmp_path / "a.log",
            ATELIER_METRICS_PORT=str(port),
        )  # fmt: skip
        await eventually(lambda: get(port, "/readyz") == (200, "ok\n"), "the adapter ready")
        # Discord goes away: no new connections, then the gateway session drops.
        assert discord._runner is not None
        for site in list(discord._runner.sites):
            await site.stop()
        for session in list(discord.sessions.values()):
            await session.ws.close()
        await eventually(lambda: get(port, "/readyz")[0] == 503, "not ready")
        status, body = await aget(port, "/readyz")
        assert status == 503 and "not connected to the Discord gateway" in body
        assert await aget(port, "/healthz") == (200, "ok\n")
        assert await asyncio.to_thread(adapter.stop) == 0, adapter.text()
    finally:
        await discord.stop()


async def test_sigterm_posts_the_results_in_hand_exits_0_and_loses_nothing(
    fake: FakeDiscord,  # noqa: F811
    redis_server: str,
    prefix: str,
    rc: Redis,
    adapters: list[Adapter],  # noqa: F811
    tmp_path: Path,
) -> None:
    log = tmp_path / "a.log"
    adapter = await start_adapter(adapters, fake, redis_server, prefix, log)
    queue = JobQueue(rc, keys=Keys(prefix))
    payloads = [
        fake.slash("poem", user, {"prompt": f"in flight {n}", "seed": n})
        for n, user in enumerate((ALICE, BOB, ADMIN), 1)
    ]
    for payload in payloads:
        await fake.dispatch(payload)
    # The first post meets a 2-second 429: SIGTERM arrives while the adapter holds a result.
    # (The adapter is stopped from a thread: the fake Discord must keep answering meanwhile.)
    fake.rate_limit("PATCH", FINAL_EDIT, retry_after=2.0)
    for n in range(3):
        await answer_next_job(queue, f"Poem number {n}.")
    limited = await fake.wait_for(
        lambda: [c for c in fake.calls_to("PATCH", FINAL_EDIT) if c.status == 429],
        what="a post to be rate limited",
    )
    assert await asyncio.to_thread(adapter.stop, signal.SIGTERM) == 0, adapter.text()
    # The result in hand was posted before the process left (not cut off mid-wait).
    retried = [c for c in fake.calls_to("PATCH", FINAL_EDIT) if c.path == limited[0].path]
    assert [c.status for c in retried] == [429, 200], adapter.text()

    # Whatever was not posted is still in the stream: the next start posts it, once.
    await start_adapter(adapters, fake, redis_server, prefix, log)
    for payload in payloads:
        message = await final_message(fake, payload)
        assert message["embeds"][0]["title"].startswith("/poem in flight")
        posted = [
            c
            for c in fake.calls_to("PATCH", payload["token"])
            if c.status == 200 and c.json and c.json.get("embeds")
        ]
        assert len(posted) == 1  # once: not again by the second process
    deadline = time.monotonic() + 10
    while (await rc.xpending(queue.keys.results("discord"), ADAPTER_GROUP))["pending"]:
        assert time.monotonic() < deadline, "results left unacked"
        await asyncio.sleep(0.1)
