"""The Slack adapter's pure parts and the brainstorm state: escaping, splitting long text,
the manifest against the catalogue, ideas from generated text, votes in a real Redis."""

from __future__ import annotations

from pathlib import Path

import yaml
from redis.asyncio import Redis

from adapters.slack.blocks import (
    MAX_BLOCKS,
    body_sections,
    escape,
    reply_text,
    result_blocks,
    split_text,
)
from adapters.slack.commands import SLASH_COMMANDS, command_text
from adapters.slack.manifest import build_manifest, render
from bot.commands.catalogue import CATALOGUE
from bot.commands.render import Message
from bot.community.brainstorm import BrainstormStore, Session, ranking, split_ideas
from bot.keys import Keys

ROOT = Path(__file__).resolve().parents[3]


def test_escape_defuses_broadcasts_and_mentions() -> None:
    raw = "<!channel> <!here> <!everyone> <@U123> <#C1> a & b\x07"
    assert escape(raw) == (
        "&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;@U123&gt; &lt;#C1&gt; a &amp; b"
    )
    assert "<" not in escape(raw) and ">" not in escape(raw)


def test_split_text_keeps_every_character_and_prefers_line_breaks() -> None:
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(200))
    chunks = split_text(text, limit=500)
    assert all(len(c) <= 500 for c in chunks) and len(chunks) > 10
    assert "\n".join(chunks) == text
    assert all(c.startswith("line ") for c in chunks)
    solid = "y" * 1234
    assert "".join(split_text(solid, limit=100)) == solid


def test_a_long_result_is_split_into_sections_and_never_cut_silently() -> None:
    body = "\n".join("word " * 100 for _ in range(30))  # about 15,000 characters
    blocks = result_blocks(Message("/story x", body, "made with m · seed 1"), "job1")
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) > 5 and all(len(s) <= 3000 for s in sections)
    assert "".join(sections[1:]).replace("\n", "") == body.replace("\n", "")
    assert blocks[-2]["type"] == "context" and blocks[-1]["type"] == "actions"
    huge = body_sections("z" * 200_000, MAX_BLOCKS - 3)
    assert len(huge) == MAX_BLOCKS - 3
    assert "more characters did not fit" in huge[-1]["text"]["text"]


def test_the_manifest_file_is_generated_from_the_catalogue() -> None:
    committed = (ROOT / "deploy" / "slack-manifest.yml").read_text()
    assert committed == render(), (
        "run: python -m adapters.slack.manifest > deploy/slack-manifest.yml"
    )
    parsed = yaml.safe_load(committed)
    assert parsed == build_manifest()
    declared = [c["command"] for c in parsed["features"]["slash_commands"]]
    assert declared == [f"/{c.name}" for c in CATALOGUE] == list(SLASH_COMMANDS)
    assert {"commands", "chat:write", "app_mentions:read"} <= set(
        parsed["oauth_config"]["scopes"]["bot"]
    )


def test_split_ideas_strips_numbering_and_says_when_fewer_came() -> None:
    text = "1. A zine of found poems\n2) Night walks\n- night walks\n* Paper boats\n\n#4 ok\n"
    ideas, note = split_ideas(text, 3)
    assert ideas == ["A zine of found poems", "Night walks", "Paper boats"] and note == ""
    ideas, note = split_ideas(text, 8)
    assert len(ideas) == 3
    assert note == "The model gave 3 usable ideas of the 8 asked for; add your own in the thread."
    one_paragraph = "Try a mural. Host a reading! Print postcards; swap zines."
    assert split_ideas(one_paragraph, 4)[0] == [
        "Try a mural.",
        "Host a reading!",
        "Print postcards",
        "swap zines",
    ]
    assert split_ideas("\x14\ufffd ..", 5) == (
        [],
        ("The model gave no usable ideas of the 5 asked for; add your own in the thread."),
    )
    long = "a" * 1000
    assert split_ideas(long, 1)[0][0].endswith("…")


async def test_votes_are_per_person_and_withdrawn_and_rank_the_ideas(
    redis_client: Redis, prefix: str
) -> None:
    store = BrainstormStore(redis_client, keys=Keys(prefix))
    session = await store.create(
        Session("s1", "zine names", "slack", "C1", "111.1", "", "U1", 3), ["Ink", "Moth", "Tide"]
    )
    again = await store.create(Session("s1", "other", "slack", "C1", "111.1", "", "U9", 3), [])
    assert again.topic == "zine names"  # created once
    assert await store.in_thread("slack", "C1", "111.1") == session
    assert await store.add_idea(session, "Lantern", "U2", "bea") == 4
    assert await store.toggle_vote(session, 2, "U1") == (True, 1)
    assert await store.toggle_vote(session, 2, "U2") == (True, 2)
    assert await store.toggle_vote(session, 4, "U3") == (True, 1)
    assert await store.toggle_vote(session, 2, "U2") == (False, 1)  # withdrawn
    assert await store.toggle_vote(session, 4, "U1") == (True, 2)
    ideas = await store.ideas(session)
    assert [(i.number, i.votes, i.by) for i in ideas] == [
        (1, 0, "atelier"),
        (2, 1, "atelier"),
        (3, 0, "atelier"),
        (4, 2, "bea"),
    ]
    assert [i.number for i in ranking(ideas)] == [4, 2]


def test_brainstorm_and_expand_prompts() -> None:
    from bot.commands.prompts import build_text_spec

    listing = build_text_spec("brainstorm", "zine names", {"count": 5, "temperature": 1.1})
    assert "List 5 distinct" in listing.instruction and listing.completion.endswith("1.")
    assert listing.temperature == 1.1
    more = build_text_spec("brainstorm", "zine names", {"count": 4, "like": "Moth"})
    assert "in the spirit of this one: “Moth”" in more.instruction
    expanded = build_text_spec("expand", "Moth", {"topic": "zine names"})
    assert "“Moth”" in expanded.instruction and "zine names" in expanded.completion


def test_command_text_is_what_the_person_typed() -> None:
    raw = "for <@U1|bea> &amp; <!here>: a &lt;3 b <https://x.org|site> value:<#C9|art>"
    assert command_text(raw) == "for @bea & @here: a <3 b site value:<#C9|art>"
    assert reply_text("use <#C9>, not <!channel> & co") == (
        "use <#C9>, not &lt;!channel&gt; &amp; co"
    )
