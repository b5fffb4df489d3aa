# ruff: noqa: F811  (pytest fixtures imported from the Slack community tests)
"""A challenge entry that is a file shared on Slack, entered by its permalink, through
`atelier slack` as a real process against the signed loopback Slack and a real Redis."""

from __future__ import annotations

import pytest

from tests.fake_slack import FakeSlack
from tests.test_community_slack import SlackApp, app, fake  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(90)
PERMALINK = "https://atelier-test.slack.com/files/UALICE/F0SEA/sea-at-dusk.png"


async def test_a_shared_file_is_entered_by_its_permalink(app: SlackApp, fake: FakeSlack) -> None:
    await app.say("/challenge", "new the sea duration:1h", "UMOD")
    mine = await app.say("/challenge", f"submit file:{PERMALINK} made:ai-assisted", "UALICE")
    assert mine["response_type"] == "in_channel"
    assert f"#1 [ai-assisted, image] sea-at-dusk.png {PERMALINK} — ualice" in mine["text"]
    notes = PERMALINK.replace("sea-at-dusk.png", "notes.pdf")
    refused = await app.say("/challenge", f"submit file:{notes}", "UBOB")
    assert refused["response_type"] == "ephemeral"
    assert "notes.pdf is not an image or audio file" in refused["text"]
