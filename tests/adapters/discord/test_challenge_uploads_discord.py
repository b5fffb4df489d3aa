# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""Challenge entries uploaded as files on Discord (`/challenge submit file:`), through `atelier
discord` as a real process against the loopback Discord and a real Redis: the upload arrives
in `data.resolved.attachments`, is checked (images and audio, not too big), stored with the
entry and shown in the voting post, pictures as images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.queue.streams import JobQueue
from tests.adapters.discord.test_community_discord import (
    ALICE,
    BOB,
    CAROL,
    MOD,
    ephemeral,
    posts,
    slash,
)
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    Adapter,
    adapters,
    fake,
    start_adapter,
)
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_discord_payloads import ATTACHMENT

pytestmark = pytest.mark.timeout(120)
MB = 1024 * 1024


async def test_an_uploaded_picture_is_entered_checked_and_shown_in_the_voting_post(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    queue: JobQueue,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "discord.log")
    submit = next(o for o in fake.commands["challenge"]["options"] if o["name"] == "submit")
    [file_option] = [o for o in submit["options"] if o["name"] == "file"]
    assert file_option["type"] == ATTACHMENT
    await slash(fake, MOD, "challenge", "new", prompt="harbours", duration="4s", voting="1h")

    picture = fake.upload("harbour.png", "image/png", 200_000)
    mine = await slash(
        fake, ALICE, "challenge", "submit", prompt="ink and wash", file=picture, made="human"
    )
    assert not ephemeral(mine)
    assert (
        f"#1 [human, image] ink and wash (harbour.png {picture['url']}) — Alice"
        in (mine["content"])
    )
    pdf = fake.upload("notes.pdf", "application/pdf", 1000)
    refused = await slash(fake, BOB, "challenge", "submit", file=pdf)
    assert ephemeral(refused)
    assert "notes.pdf is not an image or audio file; enter a PNG" in refused["content"]
    huge = fake.upload("huge.png", "image/png", 30 * MB)
    too_big = await slash(fake, BOB, "challenge", "submit", file=huge)
    assert ephemeral(too_big)
    assert "huge.png is 30.0 MB; entries are at most 25 MB" in too_big["content"]
    song = fake.upload("tide.mp3", "audio/mpeg", 3 * MB)
    tune = await slash(fake, BOB, "challenge", "submit", file=song, made="ai-assisted")
    assert f"#2 [ai-assisted, melody] tide.mp3 {song['url']} — Bob" in tune["content"]
    await slash(fake, CAROL, "challenge", "submit", prompt="gulls over the quay")

    [stored] = await queue.redis.keys(f"{prefix}challenge-entries:*")
    entries = [json.loads(e) for e in await queue.redis.lrange(stored, 0, -1)]
    assert entries[0]["url"] == picture["url"] and entries[0]["file_name"] == "harbour.png"
    assert (entries[0]["file_type"], entries[0]["file_size"]) == ("image/png", 200_000)
    assert (entries[1]["file_type"], entries[1]["file_size"]) == ("audio/mpeg", 3 * MB)

    # Voting opens: the picture is shown as an image; the song and the poem as their lines.
    [board] = await fake.wait_for(lambda: posts(fake, "Voting is open"), what="voting")
    assert f"#1 [human, image] ink and wash (harbour.png {picture['url']})" in board["content"]
    assert f"#2 [ai-assisted, melody] tide.mp3 {song['url']}" in board["content"]
    assert "#3 [human, poem] gulls over the quay" in board["content"]
    [shown] = board["embeds"]
    assert shown["title"] == "#1" and shown["image"]["url"] == picture["url"]
    assert set(fake.buttons(board)) == {"Vote #1", "Vote #2", "Vote #3"}
