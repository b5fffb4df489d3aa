# ruff: noqa: F811  (pytest fixtures imported from the Slack community tests)
"""A challenge entry that is a file shared on Slack, entered by its permalink or shared with a
mention, through `atelier slack` as a real process against the signed loopback Slack and a
real Redis."""

from __future__ import annotations

import time

import pytest

from tests.adapters.slack.test_community_slack import (  # noqa: F401 (fixtures)
    CHANNEL,
    SlackApp,
    app,
    fake,
    posted,
    until,
)
from tests.support.fake_slack import BOT_USER, FakeSlack

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


def shared(user: str, name: str, mimetype: str, size: int) -> dict[str, object]:
    """An app_mention event whose message shares a file, as the Events API sends it."""
    permalink = f"https://atelier-test.slack.com/files/{user}/F0{name.upper()[:4]}/{name}"
    return {
        "type": "app_mention",
        "channel": CHANNEL,
        "user": user,
        "text": f"<@{BOT_USER}> submit made:human",
        "ts": f"{time.time():.6f}",
        "files": [
            {
                "id": f"F0{name.upper()[:4]}",
                "name": name,
                "mimetype": mimetype,
                "size": size,
                "permalink": permalink,
                "url_private": permalink.replace("/files/", "/files-pri/"),
            }
        ],
    }


async def test_a_file_shared_with_a_mention_is_entered(app: SlackApp, fake: FakeSlack) -> None:
    await app.say("/challenge", "new gulls duration:1h", "UMOD")
    await app.client.event(shared("UBOB", "gull.jpg", "image/jpeg", 54_321))
    [entry] = await until(lambda: posted(fake, "gull.jpg"), "the entry", app)
    link = "https://atelier-test.slack.com/files/UBOB/F0GULL/gull.jpg"
    assert f"#1 [human, image] gull.jpg {link} — UBOB" in entry["text"]
    await app.client.event(shared("UCAROL", "score.pdf", "application/pdf", 10))
    await until(lambda: fake.count("chat.postEphemeral", user="UCAROL"), "the refusal", app)
    refusal = fake.find("chat.postEphemeral", user="UCAROL")[-1].data["text"]
    assert "score.pdf is not an image or audio file" in refusal
