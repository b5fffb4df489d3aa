# ruff: noqa: F811  (pytest fixtures imported from the Slack community tests)
"""Slack's limits apply to the text as sent: `atelier slack --port` as a real process (real
slack-bolt) against the loopback Slack, which refuses blocks as Slack does (invalid_blocks),
with the test playing the worker. A prompt of ampersands (each `&amp;` when sent) still makes
messages Slack accepts; a result Slack refuses is shown in a plainer form at once, never sent
again unchanged; mentions in file names, titles and alt text ping nobody."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.blocks import VOTE, WRAP_UP
from adapters.slack.limits import SECTION_TEXT, problems
from bot.commands.render import PLAIN_FORM_NOTE, REFUSED_ERROR
from bot.queue.streams import JobQueue
from tests.adapters.discord.test_discord_adapter import answer_next_job
from tests.adapters.slack.test_community_slack import (  # noqa: F401 (fixtures)
    CHANNEL,
    SlackApp,
    app,
    fake,
    posted,
    until,
)
from tests.support.fake_slack import FakeSlack, block_text

pytestmark = pytest.mark.timeout(120)
AMPERSANDS = "& " * 500  # 999 characters once stripped, under the 1,000 a prompt may have


def refused(fake: FakeSlack) -> list[str]:
    return [f"{c.method}: {c.data.get('blocks')}"[:300] for c in list(fake.calls) if c.error]


def assert_accepted(message: dict[str, Any]) -> None:
    assert problems(message["blocks"]) == [], message["blocks"]


async def test_a_prompt_of_ampersands_fits_slack_after_escaping(
    app: SlackApp, fake: FakeSlack, queue: JobQueue
) -> None:
    await app.client.command("/poem", AMPERSANDS, channel=CHANNEL, user="UALICE")
    await answer_next_job(queue, "& " * 2000, partials=("& " * 700,), delay_s=1.2)
    [done] = await until(lambda: posted(fake, "made with scripted"), "the result", app)
    title = done["blocks"][0]["text"]["text"]
    assert title.startswith("*/poem &amp; &amp; ") and title.endswith(" &amp;…*")
    assert len(title) <= SECTION_TEXT
    assert_accepted(done)
    # The progress (when it came before the result: on a busy machine it may not) and the
    # result were edits the fake Slack, which checks blocks as Slack does, accepted.
    assert fake.count("chat.update", channel=CHANNEL) >= 1
    assert refused(fake) == []


async def test_a_brainstorm_of_ampersands_fits_from_header_to_wrap_up(
    app: SlackApp, fake: FakeSlack, queue: JobQueue
) -> None:
    await app.client.command("/brainstorm", f"{AMPERSANDS} count:5", channel=CHANNEL, user="UA")
    ideas = "\n".join(f"{n}. idea {n} " + "& " * 136 for n in range(1, 6))
    await answer_next_job(queue, ideas)
    [listing] = await until(lambda: posted(fake, "idea 5"), "the idea list", app)
    for n in range(1, 6):
        before = fake.count("chat.update", ts=listing["ts"])
        await app.client.action(VOTE, f"{_session(listing)}:{n}", listing, user="UBOB")
        await until(lambda b=before: fake.count("chat.update", ts=listing["ts"]) > b, "vote", app)
    await app.client.action(WRAP_UP, _session(listing), listing, user="UA")
    wrapped = await until(lambda: posted(fake, "Top ideas for"), "the wrap-up", app)
    text = block_text(wrapped[0])
    assert "1 vote, proposed by" in text and "idea 5" in text  # every top idea is there
    for message in fake.in_channel(CHANNEL):
        assert_accepted(message)
    assert refused(fake) == []


def _session(listing: dict[str, Any]) -> str:
    return next(
        str(e["value"])
        for b in listing["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == WRAP_UP
    )


async def test_a_result_slack_refuses_is_shown_plain_at_once(
    app: SlackApp, fake: FakeSlack, queue: JobQueue
) -> None:
    await app.client.command("/poem", "the sea at dusk", channel=CHANNEL, user="UALICE")
    await until(lambda: fake.count("chat.postMessage", channel=CHANNEL), "the job's message", app)
    fake.refuse_blocks("chat.update")
    await answer_next_job(queue, "waves fold\ninto the dark")
    [done] = await until(lambda: posted(fake, PLAIN_FORM_NOTE), "the plain form", app, timeout=10)
    assert "waves fold\ninto the dark" in block_text(done)
    assert [c.error for c in fake.find("chat.update", channel=CHANNEL)] == ["invalid_blocks", ""]


async def test_a_result_refused_even_plain_becomes_a_clear_error(
    app: SlackApp, fake: FakeSlack, queue: JobQueue
) -> None:
    await app.client.command("/poem", "the sea at dusk", channel=CHANNEL, user="UALICE")
    await until(lambda: fake.count("chat.postMessage", channel=CHANNEL), "the job's message", app)
    fake.refuse_blocks("chat.update", times=2)
    await answer_next_job(queue, "waves fold\ninto the dark")
    [done] = await until(lambda: posted(fake, REFUSED_ERROR), "the error", app, timeout=10)
    assert "waves fold" not in block_text(done)
    errors = [c.error for c in fake.find("chat.update", channel=CHANNEL)]
    assert errors == ["invalid_blocks", "invalid_blocks", ""]


async def test_mentions_in_uploads_ping_nobody(
    app: SlackApp, fake: FakeSlack, queue: JobQueue
) -> None:
    await app.client.command("/poem", "a loud hall", channel=CHANNEL, user="UALICE")
    alt = "A sketch of <@U999> and <!channel>, for @everyone"
    files = (("hall <@U999>.png", "image/png", b"\x89PNG not really", alt),)
    await answer_next_job(queue, "Hear me", files=files)
    await until(lambda: fake.count("files.completeUploadExternal"), "the upload", app)
    [asked] = fake.find("files.getUploadURLExternal")
    [done] = fake.find("files.completeUploadExternal")
    sent = [str(asked.data.get("filename")), str(asked.data.get("alt_txt")), str(done.data)]
    for text in sent:
        assert "<@U999>" not in text and "<!channel>" not in text and "@everyone" not in text
    assert str(asked.data["alt_txt"]).startswith("A sketch of <\u200b@U999> and <\u200b!channel>")
