# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""A poem written together in its Discord thread, through `atelier discord` as a real process
against the loopback Discord (threads and members' messages: tests/support/fake_discord_threads.py)
and a real Redis. The model's line is answered by the test playing the text worker; the
illustration is drawn by the offline sketch renderer in a real worker loop."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from bot.queue.streams import JobQueue
from tests.adapters.discord.test_community_discord import ALICE, BOB, CAROL, ephemeral, run, slash
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    Adapter,
    adapters,
    answer_next_job,
    fake,
    start_adapter,
)
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_discord_payloads import GUILD_MESSAGES, MESSAGE_CONTENT
from tests.worker.test_worker import run_worker, stop
from worker.generators.image_sketch import SketchGenerator
from worker.loop import Worker

pytestmark = pytest.mark.timeout(120)


def shown(message: dict[str, Any]) -> str:
    """A message's text: its content and its embeds' titles and descriptions."""
    parts = [message["content"]]
    for embed in message["embeds"]:
        parts += [embed.get("title", ""), embed.get("description", "")]
    return "\n".join(parts)


def in_thread(fake: FakeDiscord, thread: int, needle: str) -> list[dict[str, Any]]:
    """The bot's messages in a thread (or channel) that say `needle`."""
    mine = str(fake.bot.id)
    return [
        m for m in fake.visible_messages(thread) if m["author"]["id"] == mine and needle in shown(m)
    ]


async def posted(fake: FakeDiscord, thread: int, needle: str) -> dict[str, Any]:
    found = await fake.wait_for(lambda: in_thread(fake, thread, needle), what=needle, timeout=20)
    return found[-1]  # type: ignore[no-any-return]


async def open_poem(fake: FakeDiscord, **options: Any) -> int:
    started = await slash(fake, ALICE, "collab", "start", prompt="winter", **options)
    assert not ephemeral(started)
    thread = await fake.wait_for(lambda: fake.thread_of(started), what="the poem's thread")
    assert thread["parent_id"] == str(fake.channel_id)
    assert thread["name"] == "A quatrain written together: “winter”"
    return int(thread["id"])


async def test_three_members_reply_in_the_thread_the_model_takes_its_turn_and_it_is_illustrated(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    queue: JobQueue,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "discord.log")
    assert fake.intents & GUILD_MESSAGES and not fake.intents & MESSAGE_CONTENT
    thread = await open_poem(fake, form="quatrain", model=3)
    intro = await posted(fake, thread, "Reply in this thread")
    assert f"mention me (<@{fake.bot.id}> your line)" in intro["content"]

    # Without the message-content intent Discord sends no text for a reply that does not
    # mention the bot: it is not a line. Nor is a mention in the channel itself.
    await fake.say(BOB, thread, "A line nobody can read")
    await fake.say(BOB, fake.channel_id, "The channel is not the thread", mention_bot=True)
    said = await fake.say(ALICE, thread, "The snow lies deep upon the hill", mention_bot=True)
    one = await posted(fake, thread, "1. The snow lies deep")
    assert "line 1 opens rhyme A. 3 lines to go." in one["content"]
    assert str(one["message_reference"]["message_id"]) == said["id"]  # an answer to Alice
    await fake.send_event("MESSAGE_CREATE", said)  # delivered again (a resumed session)
    await asyncio.sleep(1.0)  # an answer to the repeat would have come by now
    assert len(in_thread(fake, thread, "1. The snow lies deep")) == 1
    assert in_thread(fake, thread, "let someone else take a turn") == []
    await fake.say(ALICE, thread, "And one more from me", mention_bot=True)
    refused = await posted(fake, thread, "let someone else take a turn")
    assert refused["content"].startswith("⚠️ ")

    # Bob's line passes the turn to the model (every third line); its line posts here.
    await fake.say(BOB, thread, "The lanterns glow in every pane", mention_bot=True)
    two = await posted(fake, thread, "2. The lanterns glow")
    assert (
        "line 2 opens rhyme B" in two["content"]
        and "The turn passes to the model" in two["content"]
    )
    job = await answer_next_job(queue, "And all the world is white and still")
    assert "It must rhyme with “hill”" in job.text.instruction  # type: ignore[union-attr]
    assert job.origin.channel_id == str(thread)
    await posted(fake, thread, "And all the world is white and still")
    await fake.say(CAROL, thread, "Till spring comes back to us again", mention_bot=True)
    four = await posted(fake, thread, "4. Till spring")
    assert "3. And all the world is white and still   — atelier" in four["content"]
    assert "line 4 rhymes with line 2 (pane / again) ✓" in four["content"]
    assert "1. The snow lies deep upon the hill   — Alice" in four["content"]
    assert "A line nobody can read" not in four["content"]
    assert not in_thread(fake, fake.channel_id, "The channel is not the thread")

    # Finished in the thread with an illustration: the sketch renderer draws the poem's
    # imagery, credited to everyone who wrote a line, and the picture posts in the thread.
    worker = Worker(queue, [SketchGenerator()], heartbeat_s=0.5)
    task = await run_worker(worker)
    try:
        done = await run(
            fake, fake.slash("collab", BOB, {"illustrate": True}, sub="finish", channel_id=thread)
        )
        assert not ephemeral(done) and done["channel_id"] == str(thread)
        poem = done["content"].splitlines()
        assert poem[0] == "“winter” (quatrain)"
        assert "Written by Alice, Bob, atelier, Carol. quatrain form checked: met." in poem[5]
        assert "An illustration from its imagery is on its way" in poem[6]
        picture = await posted(fake, thread, "(after the poem by Alice, Bob, atelier and Carol)")
    finally:
        await stop(worker, task)
    title = picture["embeds"][0]["title"]
    assert title.startswith("/image winter: snow, lies, deep, hill, lanterns, glow, pane, world")
    [png] = picture["attachments"]
    assert png["filename"].endswith(".png")
    assert picture["embeds"][0]["image"]["url"] == f"attachment://{png['filename']}"
    assert "atelier-sketch" in picture["embeds"][0]["footer"]["text"]


async def test_with_the_message_content_intent_every_reply_in_the_thread_is_a_line(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(
        adapters,
        fake,
        redis_server,
        prefix,
        tmp_path / "discord.log",
        ATELIER_DISCORD_MESSAGE_CONTENT="1",
    )
    assert fake.intents & MESSAGE_CONTENT
    thread = await open_poem(fake, form="quatrain")
    intro = await posted(fake, thread, "Reply in this thread with your line;")
    assert "mention me" not in intro["content"]
    await fake.say(BOB, thread, "Cold stars above the frozen lake")
    await posted(fake, thread, "1. Cold stars above the frozen lake   — Bob")
    # The adapter restarts: the poem and its thread are in Redis, so replies still count.
    adapters[0].stop(signal.SIGKILL)
    await start_adapter(
        adapters,
        fake,
        redis_server,
        prefix,
        tmp_path / "discord.log",
        ATELIER_DISCORD_MESSAGE_CONTENT="1",
    )
    line = await run(
        fake,
        fake.slash(
            "collab", CAROL, {"prompt": "The pines stand dark"}, sub="line", channel_id=thread
        ),
    )
    assert "2. The pines stand dark   — Carol" in line["content"]
    await fake.say(ALICE, thread, "And silence settles on the shore")
    three = await posted(fake, thread, "3. And silence settles on the shore   — Alice")
    assert "1. Cold stars above the frozen lake   — Bob" in three["content"]
    await fake.say(BOB, fake.channel_id, "Chatter in the channel")
    await asyncio.sleep(1.0)  # a line would have been answered by now
    assert not in_thread(fake, fake.channel_id, "4. Chatter")


def long_line(n: int) -> str:
    """A line near the 200-character limit, its number in it."""
    words = " ".join(
        ["snow", "lantern", "harbour", "frost", "ember"][(n + i) % 5] for i in range(40)
    )
    return f"line {n} {words}"[:195].rstrip()


def answers(fake: FakeDiscord, thread: int, said: dict[str, Any]) -> list[dict[str, Any]]:
    """The bot's messages after a member's message: the answer to it and what follows it."""
    mine = str(fake.bot.id)
    messages = [m for m in fake.visible_messages(thread) if m["author"]["id"] == mine]
    start = next(
        (i for i, m in enumerate(messages)
         if str((m.get("message_reference") or {}).get("message_id")) == said["id"]),
        None,
    )  # fmt: skip
    return [] if start is None else messages[start:]


async def test_a_poem_of_40_long_lines_is_shown_whole_in_its_thread(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    log = tmp_path / "discord.log"
    await start_adapter(
        adapters, fake, redis_server, prefix, log, ATELIER_DISCORD_MESSAGE_CONTENT="1"
    )
    started = await slash(fake, ALICE, "collab", "start", prompt="winter", form="free", turns=40)
    thread = int((await fake.wait_for(lambda: fake.thread_of(started), what="thread"))["id"])
    await posted(fake, thread, "Reply in this thread with your line;")
    for n in range(1, 41):
        said = await fake.say((ALICE, BOB)[n % 2], thread, long_line(n))
        last = await fake.wait_for(lambda s=said: answers(fake, thread, s), what=f"line {n}")
    await asyncio.sleep(1.0)  # the rest of the last answer, if it takes several messages
    last = answers(fake, thread, said)
    text = "\n".join(shown(m) for m in last)
    assert len(text) > 2 * 2000  # past one message's content: in its embeds, or more messages
    for n in range(1, 41):
        assert f"{n}. {long_line(n)}   — {('Alice', 'Bob')[n % 2]}" in text
