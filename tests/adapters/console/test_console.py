"""The console channel in-process: a bad command and an unreachable queue leave it open."""

from __future__ import annotations

import io
import socket

from redis.asyncio import Redis

from adapters.console.chat import ConsoleChat
from bot.desk.front_desk import FrontDesk
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket closes


async def test_unreachable_queue_is_held_then_a_clear_error_and_the_channel_stays_open() -> None:
    redis = Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=0.5)
    out = io.StringIO()
    queue = JobQueue(redis)
    chat = ConsoleChat(
        FrontDesk(queue),
        ResultInbox(redis, "console:t", "c"),
        session="t",
        user="tester",
        out=out,
        reconnect_s=1.0,  # held this long, then given up
    )
    await chat.submit("/poem the sea")
    await chat.submit("/poem")  # validation still answers without Redis
    text = out.getvalue()
    assert "[1] Queued: the queue is reconnecting" in text
    assert "error: Not queued: the queue did not come back within 1 seconds" in text
    assert "error: /poem needs the topic of the poem" in text
    assert chat.pending == {}
    await redis.aclose()
