# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""A thread that grows poem -> image -> poem (and a melody) through `atelier discord` as a
real process against the loopback Discord and a real Redis: the buttons each result offers,
the links and credits from one piece to the next, the alt text on the picture, and a
repeated click that queues nothing new. Text jobs are answered by the test playing the
text worker; the picture is drawn by the offline sketch renderer in a real worker loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import JobKind, load_job
from bot.queue.streams import JobQueue
from tests.adapters.discord.test_community_discord import ALICE, BOB, CAROL, DAVE
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    Adapter,
    adapters,
    answer_next_job,
    fake,
    final_message,
    start_adapter,
)
from tests.support.fake_discord import FakeDiscord
from tests.worker.test_worker import run_worker, stop
from worker.generators.image_sketch import SketchGenerator
from worker.loop import Worker

pytestmark = pytest.mark.timeout(120)
POEM = "Grey fog hides the harbour lights\nA ghost bell tolls across the water\nand we wait"


def footer(message: dict[str, Any]) -> str:
    return str(message["embeds"][0]["footer"]["text"])


async def test_poem_to_image_to_poem_carries_links_credits_and_alt_text(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    queue: JobQueue,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "discord.log")
    asked = fake.slash("poem", ALICE, {"prompt": "the harbour at night", "seed": 4})
    await fake.dispatch(asked)
    poem = await answer_next_job(queue, POEM)
    poem_message = await final_message(fake, asked)
    buttons = fake.buttons(poem_message)
    assert {"Illustrate", "Score it"} <= set(buttons) and "Write about it" not in buttons
    assert "after " not in footer(poem_message)  # a first piece credits nobody before it

    # Bob illustrates Alice's poem; the click arrives twice (a gateway replay).
    worker = Worker(queue, [SketchGenerator()], heartbeat_s=0.5)
    task = await run_worker(worker)
    try:
        click = fake.click(int(poem_message["id"]), buttons["Illustrate"], BOB)
        await fake.dispatch(click)
        await fake.dispatch(click)
        picture = await final_message(fake, click)
    finally:
        await stop(worker, task)
    embed = picture["embeds"][0]
    assert embed["title"].startswith("/image the harbour at night: grey, fog, hides, harbour")
    assert "atelier-sketch" in footer(picture)
    assert footer(picture).endswith("after poem by Alice, asked by Bob")
    [png] = picture["attachments"]
    assert png["filename"].endswith(".png")
    # The alt text: what the sketch drew, and the prompt it was asked.
    assert png["description"].startswith("A sketch of ")
    assert png["description"].endswith(f"(asked: {embed['title'].removeprefix('/image ')})")
    bobs = await queue.redis.zrange(queue.keys.user_jobs("discord", str(BOB.id)), 0, -1)
    assert len(bobs) == 1  # the repeated click queued nothing new
    image = load_job(await queue.redis.hget(queue.keys.job(bobs[0]), "job"))
    assert image.parent_id == poem.id and image.origin.user_name == "Bob"

    # Carol writes about the picture: a poem whose prompt is the picture's alt text.
    picture_buttons = fake.buttons(picture)
    assert "Write about it" in picture_buttons and "Illustrate" not in picture_buttons
    write = fake.click(int(picture["id"]), picture_buttons["Write about it"], CAROL)
    await fake.dispatch(write)
    second = await answer_next_job(queue, "A kite of fog above the quay")
    assert second.command == "poem" and second.parent_id == image.id
    assert second.prompt == png["description"]
    written = await final_message(fake, write)
    assert footer(written).endswith("after poem by Alice → image by Bob, asked by Carol")
    assert {"Illustrate", "Score it"} <= set(fake.buttons(written))

    # Dave scores Alice's poem: a melody in its mood, linked to the poem.
    score = fake.click(int(poem_message["id"]), buttons["Score it"], DAVE)
    await fake.dispatch(score)
    entries: list[Any] = []
    for _ in range(100):
        entries = await queue.redis.xrange(queue.keys.jobs(JobKind.MUSIC))
        if entries:
            break
        await asyncio.sleep(0.1)
    [(_, fields)] = entries
    melody = load_job(fields["job"])
    assert melody.command == "melody" and melody.parent_id == poem.id
    assert melody.options["mood"] == "eerie" and melody.prompt == "the harbour at night"
    assert melody.origin.user_name == "Dave"
