# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""/challenge, /collab and /gallery through `atelier discord` as a real process, against the
loopback Discord (tests/support/fake_discord.py) and a real Redis. Jobs are answered by the test
playing the worker (`answer_next_job`), so texts are exact and no model is loaded."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import Job
from bot.queue.streams import JobQueue
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    Adapter,
    adapters,
    answer_next_job,
    fake,
    original,
    start_adapter,
)
from tests.support.fake_discord import MANAGE_GUILD, MANAGE_MESSAGES, MEMBER, FakeDiscord, FakeUser

pytestmark = pytest.mark.timeout(120)

LONG_AGO = "2020-01-01T00:00:00+00:00"
MOD = FakeUser(900_000_000_000_000_001, "mod", MEMBER | MANAGE_GUILD | MANAGE_MESSAGES, LONG_AGO)
ALICE = FakeUser(900_000_000_000_000_002, "alice", joined_at=LONG_AGO)
BOB = FakeUser(900_000_000_000_000_003, "bob", joined_at=LONG_AGO)
CAROL = FakeUser(900_000_000_000_000_004, "carol", joined_at=LONG_AGO)
DAVE = FakeUser(900_000_000_000_000_005, "dave", joined_at=LONG_AGO)
NEWCOMER = FakeUser(900_000_000_000_000_006, "newcomer")  # joins as the test runs


async def answer(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    """The interaction's reply message (public or ephemeral)."""
    found: dict[str, Any] = await fake.wait_for(
        lambda: original(fake, payload), what="the reply", timeout=15
    )
    return found


async def run(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    await fake.dispatch(payload)
    return await answer(fake, payload)


def ephemeral(message: dict[str, Any]) -> bool:
    return bool(message["flags"] & 64)


def posts(fake: FakeDiscord, needle: str) -> list[dict[str, Any]]:
    """Public channel messages that contain `needle`."""
    return [m for m in fake.visible_messages() if needle in m["content"]]


async def slash(
    fake: FakeDiscord, member: FakeUser, command: str, sub: str | None = None, /, **options: Any
) -> dict[str, Any]:
    return await run(fake, fake.slash(command, member, options, sub=sub))


async def test_a_challenge_from_opening_to_winners_across_an_adapter_restart(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    log = tmp_path / "discord.log"
    first = await start_adapter(adapters, fake, redis_server, prefix, log)
    options = {o["name"] for o in fake.commands["challenge"]["options"]}
    assert options == {"new", "submit", "vote", "leaderboard", "end"}

    refused = await slash(fake, ALICE, "challenge", "new", prompt="lighthouses")
    assert ephemeral(refused) and "Only moderators" in refused["content"]
    opened = await slash(
        fake, MOD, "challenge", "new", prompt="lighthouses", duration="3s", voting="7s",
        blind=True, newcomers=False,
    )  # fmt: skip
    assert not ephemeral(opened)
    assert "New challenge #1: “lighthouses”" in opened["content"]
    assert "entries stay hidden until voting opens" in opened["content"]

    # Entries: blind, so each author alone hears that theirs is in; one per member.
    mine = await slash(fake, ALICE, "challenge", "submit", prompt="a beam that sweeps the dark")
    assert ephemeral(mine) and "Your entry #1 is in" in mine["content"]
    link = "https://cdn.example/attachments/1/lamp.png"
    theirs = await slash(fake, BOB, "challenge", "submit", prompt=link, made="ai-assisted")
    assert ephemeral(theirs) and "Your entry #2 is in" in theirs["content"]
    again = await slash(fake, ALICE, "challenge", "submit", prompt="a second try")
    assert ephemeral(again) and "one entry per member" in again["content"]
    await slash(fake, CAROL, "challenge", "submit", prompt="salt and glass", made="ai-generated")
    hidden = await slash(fake, DAVE, "challenge", "vote")
    assert "3 entries so far; they stay hidden" in hidden["content"]
    assert "sweeps" not in hidden["content"]
    early = await slash(fake, DAVE, "challenge", "vote", entry=1)
    assert "Voting opens when entries close" in early["content"]

    # The scheduler opens voting: the entries, anonymous while voting, with vote buttons.
    voting = await fake.wait_for(lambda: posts(fake, "Voting is open"), what="voting", timeout=15)
    assert len(voting) == 1
    board = voting[0]
    assert "#1 [human, poem] a beam that sweeps the dark" in board["content"]
    assert f"#2 [ai-assisted, image] {link}" in board["content"]
    assert "Alice" not in board["content"] and "Bob" not in board["content"]
    buttons = fake.buttons(board)
    assert set(buttons) == {"Vote #1", "Vote #2", "Vote #3"}

    async def click(user: FakeUser, label: str) -> str:
        payload = fake.click(int(board["id"]), buttons[label], user)
        message = await run(fake, payload)
        assert ephemeral(message)
        return str(message["content"])

    assert "Your vote for entry #1 is counted. It has 1 vote." in await click(DAVE, "Vote #1")
    assert "voted for entry #1 already" in await click(DAVE, "Vote #1")
    assert "your own entry" in await click(ALICE, "Vote #1")
    assert "joined after this challenge opened" in await click(NEWCOMER, "Vote #2")
    assert "It has 2 votes" in await click(BOB, "Vote #1")
    assert "It has 1 vote" in await click(CAROL, "Vote #2")

    # The adapter dies before the deadline; the close happens when one runs again.
    first.stop(signal.SIGKILL)
    await asyncio.sleep(8)
    assert posts(fake, "has ended") == []
    await start_adapter(adapters, fake, redis_server, prefix, log)
    ended = await fake.wait_for(lambda: posts(fake, "has ended"), what="the close", timeout=15)
    await asyncio.sleep(2.5)  # a second close would have been posted by now
    assert len(posts(fake, "has ended")) == 1
    text = ended[0]["content"]
    assert "Winner: #1 by Alice with 2 votes!" in text
    assert "Gallery of entries:" in text
    assert "1. #1 [human, poem] a beam that sweeps the dark — Alice (2 votes)" in text
    assert f"2. #2 [ai-assisted, image] {link} — Bob (1 vote)" in text
    assert "3. #3 [ai-generated, poem] salt and glass — Carol (0 votes)" in text

    standings = await slash(fake, DAVE, "challenge", "leaderboard")
    assert not ephemeral(standings)
    lines = standings["content"].splitlines()
    assert lines[1] == "1. Alice: 3 pts · 1 wins · 1 in a row"
    assert lines[2] == "2. Bob: 2 pts · 0 wins · 1 in a row"
    assert lines[3] == "3. Carol: 0 pts · 0 wins · 1 in a row"
    late = await slash(fake, DAVE, "challenge", "vote", entry=2)
    assert "No challenge is running" in late["content"]


async def test_a_poem_written_by_three_members_and_the_model(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    queue: JobQueue,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "discord.log")
    started = await slash(fake, ALICE, "collab", "start", prompt="winter", form="quatrain")
    assert (
        "A quatrain written together: “winter”, 4 lines, rhyme scheme ABAB" in (started["content"])
    )
    one = await slash(fake, ALICE, "collab", "line", prompt="The snow lies deep upon the hill")
    assert not ephemeral(one) and "line 1 opens rhyme A" in one["content"]
    twice = await slash(fake, ALICE, "collab", "line", prompt="And more from me")
    assert ephemeral(twice) and "let someone else take a turn" in twice["content"]
    two = await slash(fake, BOB, "collab", "line", prompt="The lanterns glow in every pane")
    assert "line 2 opens rhyme B. 2 lines to go." in two["content"]

    asked = await slash(fake, CAROL, "collab", "model")
    assert "The model is writing line 3" in asked["content"]
    waiting = await slash(fake, CAROL, "collab", "line", prompt="too soon")
    assert "The model is writing its line" in waiting["content"]
    job: Job = await answer_next_job(queue, "And all the world is white and still\nmore words")
    assert "Write only line 3" in job.text.instruction  # type: ignore[union-attr]
    assert "It must rhyme with “hill”" in job.text.instruction  # type: ignore[union-attr]

    four = await slash(fake, CAROL, "collab", "line", prompt="Till spring comes back to us again")
    assert "3. And all the world is white and still   — atelier" in four["content"]
    assert "line 4 rhymes with line 2 (pane / again) ✓" in four["content"]
    done = await slash(fake, BOB, "collab", "finish")
    assert not ephemeral(done)
    poem = done["content"].splitlines()
    assert poem[0] == "“winter” (quatrain)"
    assert [line.rsplit("— ", 1)[1] for line in poem[1:5]] == ["Alice", "Bob", "atelier", "Carol"]
    assert "Written by Alice, Bob, atelier, Carol. quatrain form checked: met." in poem[5]


async def test_the_gallery_pages_and_credits_remixes(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    queue: JobQueue,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "discord.log")
    poems = []
    for n in range(6):
        payload = fake.slash("poem", ALICE, {"prompt": f"harbour {n}", "seed": n + 1})
        await fake.dispatch(payload)
        await answer(fake, payload)
        await answer_next_job(queue, f"poem number {n}")
        poems.append(payload)
    first = await fake.wait_for(
        lambda: (m := original(fake, poems[0])) and m["embeds"] and m, what="the first result"
    )
    remix = fake.click(int(first["id"]), fake.buttons(first)["Remix"], BOB)
    await fake.dispatch(remix)
    await fake.wait_for(lambda: fake.interactions[int(remix["id"])].modal, what="the form")
    submit = fake.submit_modal(remix, {"prompt": "harbour at night"}, BOB)
    await fake.dispatch(submit)
    await answer_next_job(queue, "the remixed poem")
    await fake.wait_for(
        lambda: (m := original(fake, submit)) and m["embeds"], what="the remix result"
    )

    async def gallery_has(count: int) -> None:
        deadline = time.monotonic() + 15
        while True:
            page = await slash(fake, CAROL, "gallery", None)
            if f"{count} pieces" in page["content"] or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.3)

    await gallery_has(7)
    page = await slash(fake, CAROL, "gallery", None)
    assert ephemeral(page)
    text = page["content"]
    assert text.startswith("Gallery: page 1 of 2, 7 pieces")
    assert "/poem harbour at night — by Bob" in text  # newest first
    assert "remix of [" in text and "] by Alice" in text
    assert "made with scripted · seed " in text
    assert set(fake.buttons(page)) == {"Next"}
    nxt = fake.click(int(page["id"]), fake.buttons(page)["Next"], CAROL)
    second = await run(fake, nxt)
    assert second["content"].startswith("Gallery: page 2 of 2, 7 pieces")
    assert "/poem harbour 0 — by Alice" in second["content"]
    assert set(fake.buttons(second)) == {"Previous"}

    bobs = await slash(fake, CAROL, "gallery", None, user="bob")
    assert "Gallery (by bob): page 1 of 1, 1 piece" in bobs["content"]
    piece_id = bobs["content"].split("[", 1)[1][:8]
    refused = await slash(fake, CAROL, "gallery", None, delete=piece_id)
    assert "Only the member who made this piece" in refused["content"]
    gone = await slash(fake, BOB, "gallery", None, delete=piece_id)
    assert gone["content"].startswith(f"Deleted [{piece_id}]")
    empty = await slash(fake, CAROL, "gallery", None, user="bob")
    assert "no pieces by bob yet" in empty["content"]


async def test_gallery_web_answers_with_a_signed_link_the_web_gallery_opens(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    queue: JobQueue,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    """`/gallery web` through the real adapter: a link only the asker sees, signed with the
    deployment's key, that the web gallery (same key) opens on the server's pieces."""
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer
    from pydantic import SecretStr

    from bot.web.app import make_app
    from bot.web.links import Links

    links = Links(queue.redis, keys=queue.keys, secret=SecretStr("shared key"))
    server = TestServer(make_app(queue.redis, links), host="127.0.0.1")
    await server.start_server()
    try:
        address = str(server.make_url("")).rstrip("/")
        await start_adapter(
            adapters,
            fake,
            redis_server,
            prefix,
            tmp_path / "discord.log",
            ATELIER_WEB_SECRET="shared key",
            ATELIER_WEB_URL=address,
        )
        options = {o["name"] for o in fake.commands["gallery"]["options"]}
        assert "prompt" in options
        payload = fake.slash("poem", ALICE, {"prompt": "the harbour", "seed": 3})
        await run(fake, payload)
        await answer_next_job(queue, "boats in the harbour")
        await fake.wait_for(lambda: (m := original(fake, payload)) and m["embeds"], what="result")
        reply = await slash(fake, CAROL, "gallery", None, prompt="web")
        assert ephemeral(reply) and f"{address}/s/" in reply["content"]
        url = reply["content"].split(f"{address}", 1)[1].split()[0]
        async with ClientSession() as session:
            deadline = time.monotonic() + 15
            while True:  # the result reaches the gallery as the adapter delivers it
                async with session.get(address + url) as response:
                    html = await response.text()
                if "boats in the harbour" in html or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
        assert response.status == 200 and "boats in the harbour" in html
        assert str(ALICE.id) not in html and str(fake.guild_id) not in html
    finally:
        await server.close()
