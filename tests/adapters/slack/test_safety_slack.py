# ruff: noqa: F811  (pytest fixtures imported from the Slack community tests)
"""Moderation notes through `atelier slack --port` as a real process (real slack-bolt),
against the loopback Slack (tests/support/fake_slack.py) and a real Redis: a refused prompt is
answered to its author only, and the workspace's moderation log channel gets a short note."""

from __future__ import annotations

import pytest

from tests.adapters.slack.test_community_slack import (  # noqa: F401 (fixtures)
    SlackApp,
    app,
    fake,
    text_of,
    until,
)
from tests.support.fake_slack import FakeSlack, block_text

pytestmark = pytest.mark.timeout(120)


async def test_a_refused_prompt_is_noted_in_the_moderation_log_channel(
    app: SlackApp, fake: FakeSlack
) -> None:
    shown = await app.say(
        "/atelier", "settings key:moderation_log_channel value:<#CMODLOG|mods>", "UMOD"
    )
    assert "moderation_log_channel: CMODLOG" in text_of(shown)

    told = await app.say("/poem", "a naked child by the sea", "UALICE")
    assert told.get("response_type") == "ephemeral"
    assert "sexual content involving minors" in text_of(told)

    def note() -> list[str]:
        return [
            block_text(m)
            for m in fake.in_channel("CMODLOG")
            if "Atelier refused a prompt: /poem" in block_text(m)
        ]

    [posted] = await until(note, "the moderation note", app)
    assert "category: sexual content involving minors" in posted
    assert "naked" not in posted and "Excerpt" not in posted  # no excerpt for this category
