# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""A full challenge of long entries on Discord: 25 haiku of about 900 characters each, through
`atelier discord` as a real process against the loopback Discord (which refuses a message
over Discord's limits, as Discord does) and a real Redis. Every entry a member can vote for
is shown whole, with its vote button, in the voting post, in `/challenge vote` and in the
gallery at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.adapters.discord.test_community_discord import MOD, ephemeral, posts, run, slash
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    Adapter,
    adapters,
    fake,
    original,
    start_adapter,
)
from tests.support.discord_limits import problems
from tests.support.fake_discord import FakeDiscord, FakeUser

pytestmark = pytest.mark.timeout(150)

LONG_AGO = "2020-01-01T00:00:00+00:00"
MEMBERS = [FakeUser(900_000_000_000_001_000 + n, f"poet{n}", joined_at=LONG_AGO) for n in range(25)]
WORDS = ["lantern", "harbour", "tide", "salt", "gull", "quay", "mist", "ember", "willow"]
WORDS += ["frost", "cedar", "heron", "dusk", "moth", "pebble", "rain", "hollow", "thistle"]


def haiku(n: int) -> str:
    """A long three-line entry (about 900 characters), different for every member."""
    lines = []
    for part in range(3):
        words = [WORDS[(n * 7 + part * 3 + i * (n + 1)) % len(WORDS)] for i in range(40)]
        lines.append(f"poem {n} line {part + 1}: " + " ".join(words))
    return " / ".join(lines)


def pieces(message: dict[str, Any]) -> list[str]:
    """The texts a member reads in a message: its content and each embed's description."""
    return [message["content"], *(e.get("description", "") for e in message["embeds"])]


def check_all_shown(messages: list[dict[str, Any]], *, votes: bool) -> None:
    for message in messages:
        assert problems(message) == []
    shown = [text for message in messages for text in pieces(message)]
    for n in range(25):
        assert any(haiku(n) in text for text in shown), f"entry #{n + 1} is not shown whole"
    if votes:
        buttons: dict[str, str] = {}
        for message in messages:
            buttons.update(fake_buttons(message))
        assert set(buttons) == {f"Vote #{n}" for n in range(1, 26)}


def fake_buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        comp["label"]: comp["custom_id"]
        for row in message.get("components", [])
        for comp in row.get("components", [])
        if comp.get("type") == 2
    }


def replies(fake: FakeDiscord, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """An interaction's reply and its follow-ups, in order."""
    state = fake.interactions[int(payload["id"])]
    first = original(fake, payload)
    return [m for m in [first, *(fake.messages[i] for i in state.followups)] if m]


async def test_25_long_entries_are_each_shown_whole_with_their_vote_button(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "discord.log")
    await slash(fake, MOD, "challenge", "new", prompt="night harbours", duration="20s", voting="1h")
    for n, member in enumerate(MEMBERS):
        entered = await slash(fake, member, "challenge", "submit", prompt=haiku(n))
        assert not ephemeral(entered) and f"#{n + 1} [human, poem]" in entered["content"]

    # The scheduler opens voting: every entry whole, every vote button, in a few messages.
    await fake.wait_for(lambda: posts(fake, "Voting is open"), what="voting", timeout=60)
    await fake.wait_for(lambda: any(fake_buttons(m) for m in after_voting(fake)), what="buttons")
    board = after_voting(fake)
    assert 1 < len(board) <= 6
    check_all_shown(board, votes=True)
    last = board[-1]
    vote = await run(fake, fake.click(int(last["id"]), fake_buttons(last)["Vote #25"], MOD))
    assert "Your vote for entry #25 is counted" in vote["content"]

    # /challenge vote without an entry lists them, to the asker only, with the buttons.
    payload = fake.slash("challenge", MEMBERS[0], {}, sub="vote")
    await run(fake, payload)
    listed = await fake.wait_for(lambda: full(replies(fake, payload)), what="the list")
    assert all(ephemeral(m) for m in listed)
    check_all_shown(listed, votes=True)

    # A moderator ends it: the gallery shows every entry whole.
    payload = fake.slash("challenge", MOD, {}, sub="end")
    await run(fake, payload)
    ended = await fake.wait_for(lambda: full(replies(fake, payload)), what="the gallery")
    assert "has ended" in ended[0]["content"]
    check_all_shown(ended, votes=False)


def after_voting(fake: FakeDiscord) -> list[dict[str, Any]]:
    """The voting post: its first message and the ones the scheduler posted after it."""
    messages = fake.visible_messages()
    start = next(i for i, m in enumerate(messages) if "Voting is open" in m["content"])
    return [m for m in messages[start:] if m.get("interaction_metadata") is None]


def full(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The messages once the last entry (#25) is among them."""
    shown = " ".join(text for m in messages for text in pieces(m))
    return messages if haiku(24) in shown else None
