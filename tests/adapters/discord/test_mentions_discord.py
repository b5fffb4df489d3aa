# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""Mentions from prompts and generated text reach no Discord payload as mentions: the embed's
title, description and footer, the files' alt text and the progress text carry them defused
(a zero-width space after `<` or `@`), and every send says `allowed_mentions: none`.
`atelier discord` as a real process against the loopback Discord, the test as the worker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    Adapter,
    adapters,
    answer_next_job,
    fake,
    final_message,
    rc,
    start_adapter,
)
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.timeout(90)
PINGS = re.compile(r"<[@!]|(?<!\w)@(everyone|here)\b")


async def test_mentions_from_prompts_reach_no_payload_as_mentions(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    rc: Redis,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "a.log")
    payload = fake.slash("poem", ALICE, {"prompt": f"a loud hall <@{BOB.id}> @everyone"})
    await fake.dispatch(payload)
    alt = f"A sketch of <@{BOB.id}> and <@&{fake.guild_id + 1}>, for @here"
    files = (("hall.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64), alt),)
    text = f"Hear me @everyone and <@!{BOB.id}>."
    partials = ("Hear me @everyone",)
    queue = JobQueue(rc, keys=Keys(prefix))
    await answer_next_job(queue, text, partials=partials, delay_s=1.2, files=files)
    message = await final_message(fake, payload)
    embed = message["embeds"][0]
    assert embed["title"] == f"/poem a loud hall <\u200b@{BOB.id}> @\u200beveryone"
    assert embed["description"] == f"Hear me @\u200beveryone and <\u200b@!{BOB.id}>."
    [picture] = message["attachments"]
    assert picture["description"].startswith(f"A sketch of <\u200b@{BOB.id}> and <\u200b@&")
    sent = [c.json for c in fake.calls_to("PATCH", payload["token"]) if c.json]
    assert any("Hear me" in (body.get("content") or "") for body in sent)  # the progress
    for body in sent:
        assert not PINGS.search(json.dumps(body, ensure_ascii=False)), body
        if "content" in body or "embeds" in body:
            assert body["allowed_mentions"] == {"parse": []}, body
