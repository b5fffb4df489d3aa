# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""Challenge announcements survive an adapter that dies while posting them: `atelier
discord` as a real process, killed with SIGKILL while the loopback Discord holds its post,
then started again. Each announcement shows exactly once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.community.outbox import OUTBOX_LEASE_S
from tests.adapters.discord.test_community_discord import ALICE, MOD, ephemeral, posts, slash
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    Adapter,
    adapters,
    fake,
    start_adapter,
)
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.timeout(180)


async def test_an_announcement_is_posted_once_across_a_crash_before_and_after_the_post(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    log = tmp_path / "discord.log"
    first = await start_adapter(adapters, fake, redis_server, prefix, log)
    channel_posts = rf"^/channels/{fake.channel_id}/messages$"
    # The voting post never reaches Discord: the adapter dies while sending it.
    lost = fake.hold("POST", channel_posts, record=False, containing="Voting is open")
    # The close's post reaches Discord but its answer is lost: that adapter dies too.
    landed = fake.hold("POST", channel_posts, record=True, containing="has ended")
    opened = await slash(fake, MOD, "challenge", "new", prompt="tides", duration="2s", voting="8s")
    assert "New challenge #1: “tides”" in opened["content"]
    entry = await slash(fake, ALICE, "challenge", "submit", prompt="the moon pulls")
    assert not ephemeral(entry)
    await fake.wait_for(lambda: lost.caught, what="the voting post", timeout=20)
    first.stop(signal.SIGKILL)
    assert posts(fake, "Voting is open") == []

    # Its successor posts it once its lease lapses, then the close, whose answer is lost; the
    # next adapter posts the close again with the same nonce, which Discord drops.
    second = await start_adapter(adapters, fake, redis_server, prefix, log)
    voting = await fake.wait_for(
        lambda: posts(fake, "Voting is open"), what="voting", timeout=OUTBOX_LEASE_S + 30
    )
    assert "#1 [human, poem] the moon pulls" in voting[0]["content"]
    await fake.wait_for(lambda: landed.caught, what="the close's post", timeout=40)
    second.stop(signal.SIGKILL)
    [ended] = posts(fake, "has ended")
    await start_adapter(adapters, fake, redis_server, prefix, log)
    nonce = ended["nonce"]
    await fake.wait_for(
        lambda: (
            len([c for c in fake.calls_to("POST", channel_posts) if c.json["nonce"] == nonce]) >= 2
        ),
        what="the close posted again",
        timeout=OUTBOX_LEASE_S + 30,
    )
    await asyncio.sleep(2.5)  # a third post would have come by now
    assert len(posts(fake, "has ended")) == 1
    assert len(posts(fake, "Voting is open")) == 1
    assert "Gallery of entries:" in ended["content"]
