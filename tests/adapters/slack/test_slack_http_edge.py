"""The HTTP edge of `atelier slack --port` as a real process, driven over 127.0.0.1 sockets:
a request with a timestamp that is not a number is refused 401 (not 500), and slow request
bodies (slowloris) are timed out and capped while a normal signed command still goes
through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from adapters.slack.loopback import sign
from tests.adapters.slack.test_community_slack import SlackApp
from tests.adapters.slack.test_slack import SECRET
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.timeout(120)
BODY_TIMEOUT_S = 5.0
MAX_SLOW = 32
SLOW = 40


@pytest.fixture
def app(redis_server: str, prefix: str, tmp_path: Path) -> Iterator[SlackApp]:
    fake = FakeSlack().start()
    slack = SlackApp(fake, redis_server, prefix, tmp_path / "app.log")
    slack.env.update(
        ATELIER_SLACK_BODY_TIMEOUT=str(BODY_TIMEOUT_S), ATELIER_SLACK_MAX_SLOW_BODIES=str(MAX_SLOW)
    )
    slack.start()
    try:
        yield slack
    finally:
        assert slack.proc is not None
        slack.proc.terminate()
        slack.proc.wait(timeout=15)
        fake.stop()


async def test_a_timestamp_that_is_not_a_number_is_refused_401(app: SlackApp) -> None:
    body = app.client.command_body("/poem", "the sea", channel="CEDGE")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": "soon",
        "X-Slack-Signature": sign(SECRET, "soon", body),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(app.client.url, data=body.encode(), headers=headers) as response,
    ):
        assert response.status == 401
    status, _, _ = await app.client.command("/poem", "the sea", channel="CEDGE")
    assert status == 200  # a well-formed one is still served


async def slow_sender(port: int) -> tuple[int, float]:
    """Headers, then the body one byte at a time, every 0.5 s, until the server answers or
    closes: (the status it answered, 0 for none; seconds until it closed)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"X-Slack-Request-Timestamp: " + str(int(time.time())).encode() + b"\r\n"
        b"X-Slack-Signature: v0=0\r\nContent-Length: 10000\r\n\r\nt"
    )
    answer = b""
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=0.5)
            except TimeoutError:
                writer.write(b"x")
                await writer.drain()
                continue
            if not chunk:
                break
            answer += chunk
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    took = time.monotonic() - started
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, took


async def test_slow_bodies_are_timed_out_and_capped_while_a_command_goes_through(
    app: SlackApp,
) -> None:
    senders = [asyncio.create_task(slow_sender(app.port)) for _ in range(SLOW)]
    # Past the 1 s grace all 40 count as slow: those past the cap are refused at once.
    deadline = time.monotonic() + BODY_TIMEOUT_S - 1
    while True:
        if sum(not s.done() for s in senders) <= MAX_SLOW or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert sum(not s.done() for s in senders) == MAX_SLOW
    status, _, took = await app.client.command("/poem", "the harbour", channel="CEDGE")
    assert status == 200 and took < 3.0  # Slack's limit for the ack
    assert sum(not s.done() for s in senders) == MAX_SLOW  # held all the while

    outcomes = await asyncio.wait_for(asyncio.gather(*senders), timeout=BODY_TIMEOUT_S + 10)
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [408] * MAX_SLOW + [503] * (SLOW - MAX_SLOW)
    assert max(took for _, took in outcomes) < BODY_TIMEOUT_S + 3
    status, _, _ = await app.client.command("/poem", "the tide", channel="CEDGE")
    assert status == 200
