# ruff: noqa: F811  (pytest fixtures imported from the Discord adapter tests)
"""Moderation notes through `atelier discord` as a real process, against the loopback
Discord (tests/support/fake_discord.py) and a real Redis: a refused prompt is answered to its
author only, and the server's moderation log channel gets a short note."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.discord.messages import result_message
from bot.jobs import Origin, Provenance, Result
from tests.adapters.discord.test_discord_adapter import (  # noqa: F401 (fixtures)
    ADMIN,
    Adapter,
    adapters,
    fake,
    start_adapter,
)
from tests.support.fake_discord import FakeDiscord, FakeUser

pytestmark = pytest.mark.timeout(90)
ALICE = FakeUser(444_444_444_444_444_444, "alice")


async def ask(
    fake: FakeDiscord, user: FakeUser, name: str, options: dict[str, Any], **kw: Any
) -> str:
    """A command whose answer is immediate (settings) or an ephemeral follow-up (refusal)."""
    payload = fake.slash(name, user, options, **kw)
    await fake.dispatch(payload)
    pattern = rf"^/webhooks/\d+/{payload['token']}$|/interactions/{payload['id']}/"

    def answered() -> list[str]:
        bodies = [c.json.get("data", c.json) for c in fake.calls_to("POST", pattern)]  # type: ignore[union-attr]
        return [str(b["content"]) for b in bodies if isinstance(b, dict) and b.get("content")]

    found: list[str] = await fake.wait_for(answered, what=name)
    return found[0]


async def test_a_refused_prompt_is_noted_in_the_moderation_log_channel(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "a.log")
    log_channel = fake.snowflake()
    shown = await ask(
        fake,
        ADMIN,
        "atelier",
        {"key": "moderation_log_channel", "value": f"<#{log_channel}>"},
        sub="settings",
    )
    assert f"moderation_log_channel: {log_channel}" in shown

    told = await ask(fake, ALICE, "image", {"prompt": "a nude figure study by the window"})
    assert told.startswith("Your prompt was refused: it matches the built-in list")
    assert "image_safety: strict" in told

    def note() -> list[dict[str, Any]]:
        return [
            m
            for m in fake.visible_messages(log_channel)
            if m["content"].startswith(f"Atelier refused a prompt: /image by Alice ({ALICE.id})")
        ]

    [posted] = await fake.wait_for(note, what="the moderation note", timeout=20)
    assert "category: sexual content" in posted["content"]
    assert "Excerpt: “a nude figure study by the window”" in posted["content"]
    assert not fake.visible_messages()  # nothing public in the member's channel


def test_a_blurred_image_stays_behind_its_spoiler_cover() -> None:
    """Discord hides a file named SPOILER_...; an embed showing it would not."""
    origin = Origin(platform="discord", route="discord", delivery_id="d1")
    result = Result(
        job_id="j" * 24,
        ok=True,
        command="image",
        prompt="a heron",
        note="Blurred and marked as a spoiler: the model's safety checker flagged it.",
        provenance=Provenance(model="m", generator="g", seed=1),
        origin=origin,
    )
    spoiler = result_message(result, files=[("SPOILER_atelier-1.png", b"png")])
    assert spoiler.embed is not None and not spoiler.embed.image.url
    assert [f.filename for f in spoiler.files()] == ["SPOILER_atelier-1.png"]
    footer = spoiler.embed.footer.text or ""
    assert "Blurred and marked as a spoiler" in footer
    plain = result_message(result, files=[("atelier-1.png", b"png")])
    assert plain.embed is not None and plain.embed.image.url == "attachment://atelier-1.png"
