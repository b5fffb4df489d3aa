"""Every kind of message the Discord adapter sends, built from hypothesis-made prompts, results,
entries, standings and poems written together, turned into the JSON discord.py sends
(`handle_message_parameters`) and checked against Discord's documented limits
(tests/support/discord_limits.py): content 2,000, embeds 6,000 together, description 4,096,
field 1,024, title 256, footer 2,048, author 256, custom ids 100, five rows of five, button
labels 80, 25 select options. Bot-side texts must also lose nothing on the way (`pages`)."""

from __future__ import annotations

import json
import re
from typing import Any

import discord
from discord.http import handle_message_parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.discord.messages import (
    progress_message,
    progress_title,
    queued_message,
    result_message,
)
from adapters.discord.pages import Page, pages
from adapters.discord.views import community_view, remix_modal, result_view
from bot.commands.catalogue import CATALOGUE, MAX_PROMPT_CHARS
from bot.commands.render import defuse_mentions, help_text, line_text, queued_text
from bot.community.announcements import (
    announce,
    entries_text,
    leaderboard_text,
    poem_so_far,
    vote_buttons,
)
from bot.community.challenges import CLOSED, MADE, OPEN, VOTING, Challenge, Change, Entry, Standing
from bot.community.collab import MAX_LINE_CHARS, Collab, Line
from bot.community.gallery import Page as GalleryPage
from bot.community.gallery import Piece, describe_page
from bot.jobs import Attachment, Origin, Progress, Provenance, Result
from bot.replies import Button
from tests.support.discord_limits import problems

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RESULT_COMMANDS = [c.name for c in CATALOGUE if c.kind is not None]
ORIGIN = Origin(platform="discord", route="discord", delivery_id="d1", channel_id="1")

# Text that runs long cheaply: a short unit repeated, with line breaks, escapes and mentions
# among the units hypothesis picks.
units = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(["& ", "<@123> ", "@everyone ", "\n", "\n\n", "🎨", "a" * 200, " / "]),
)


def long_text(most: int, least: int = 0) -> st.SearchStrategy[str]:
    joined = st.builds(lambda u, n: u * n, units, st.integers(0, most))
    mixed = st.lists(joined, max_size=4).map("".join)
    return mixed.map(lambda t: t[:most]).filter(lambda t: len(t) >= least)


prompts = long_text(MAX_PROMPT_CHARS)
job_ids = st.text("0123456789abcdef", min_size=8, max_size=64)
names = st.text(min_size=0, max_size=80)


def sent(**kwargs: Any) -> dict[str, Any]:
    """The JSON discord.py sends for these message arguments."""
    with handle_message_parameters(**kwargs) as params:
        if params.payload is not None:
            return dict(params.payload)
        assert params.multipart is not None
        return dict(json.loads(params.multipart[0]["value"]))


def check(payload: dict[str, Any]) -> None:
    assert problems(payload) == []


def page_payloads(text: str, buttons: tuple[Button, ...] = (), images: Any = ()) -> list[Page]:
    """A bot-side text as the adapter sends it; checks each message and that nothing is lost."""
    out = pages(text, buttons, tuple(images))
    for page in out:
        payload = sent(
            content=page.content or None,
            embeds=page.embeds(),
            view=community_view(page.buttons),
        )
        check(payload)
        assert payload.get("content") or payload["embeds"] or payload["components"]
    shown = "".join(p.content + "".join(p.texts) for p in out)
    if text.strip():  # all of it, with its mentions defused
        assert re.sub(r"\s", "", shown) == re.sub(r"\s", "", defuse_mentions(text))
    assert tuple(b for p in out for b in p.buttons) == buttons
    assert [i for p in out for i in p.images] == [(defuse_mentions(c), u) for c, u in images]
    return out


# Jobs: the queued reply, progress, every result kind ---------------------------------------
@FAST
@given(
    command=st.sampled_from(RESULT_COMMANDS),
    prompt=prompts,
    count=st.integers(1, 4),
    position=st.one_of(st.none(), st.integers(0, 10**6)),
    workers=st.integers(0, 1000),
    verb=st.sampled_from(["", "Variations of ", "Remix of "]),
)
def test_the_queued_reply_fits(
    command: str, prompt: str, count: int, position: int | None, workers: int, verb: str
) -> None:
    what = f"{verb}/{command} {prompt[:80]}"
    for text in (queued_text(position, workers), line_text(position, workers)):
        check(sent(content=queued_message(what, count, text)))


@FAST
@given(
    command=st.sampled_from(RESULT_COMMANDS),
    prompt=prompts,
    partial=long_text(20_000),
    stage=st.one_of(st.just("generating"), long_text(300)),
    fraction=st.floats(0, 1),
)
def test_progress_fits(
    command: str, prompt: str, partial: str, stage: str, fraction: float
) -> None:
    progress = Progress(
        job_id="ab" * 8,
        fraction=fraction,
        stage=stage,
        partial_text=partial,
        origin=ORIGIN,
        command=command,
        prompt=prompt,
    )
    check(sent(content=progress_message(progress_title(progress), progress)))


attachments = st.lists(
    st.builds(
        lambda stem, ext, alt: Attachment(
            filename=f"{stem}.{ext}", content_type="x/y", size=1, key="k", description=alt
        ),
        st.text("abcdefghij_-0123456789", min_size=1, max_size=100),
        st.sampled_from(["png", "wav", "mid", "abc", "txt"]),
        long_text(3000),
    ),
    max_size=4,
    unique_by=lambda a: a.filename,
)


@st.composite
def results(draw: st.DrawFn) -> Result:
    ok = draw(st.booleans())
    settings_ = draw(st.dictionaries(st.text(max_size=20), long_text(200), max_size=5))
    return Result(
        job_id=draw(job_ids),
        ok=ok,
        command=draw(st.sampled_from(RESULT_COMMANDS)),
        prompt=draw(prompts),
        text=draw(long_text(20_000)),
        error="" if ok else draw(long_text(3000, 1)),
        note=draw(long_text(500)),
        provenance=Provenance(
            model=draw(long_text(300, 1)),
            generator="g",
            seed=draw(st.integers(0, 2**32 - 1)),
            settings=settings_,
        ),
        attachments=tuple(draw(attachments)) if ok else (),
        origin=ORIGIN,
    )


@FAST
@given(result=results(), mention=st.sampled_from(["", "123456789012345678"]), credit=names)
def test_every_result_kind_fits(result: Result, mention: str, credit: str) -> None:
    files = [(a.filename, b"data") for a in result.attachments]
    out = result_message(result, mention=mention, files=files, credit=credit)
    view = result_view(result.job_id, result.command) if result.ok else None
    payload = sent(
        content=out.content,
        embed=out.embed,
        files=out.files(),
        view=view or discord.utils.MISSING,
    )
    check(payload)


@FAST
@given(job_id=job_ids, command=st.sampled_from(RESULT_COMMANDS), prompt=prompts)
def test_the_remix_form_fits(job_id: str, command: str, prompt: str) -> None:
    form = remix_modal(job_id, command, prompt).to_dict()
    assert len(form["title"]) <= 45 and len(form["custom_id"]) <= 100
    [row] = form["components"]
    for field in row["components"]:
        assert len(field["label"]) <= 45 and len(field.get("value", "")) <= field["max_length"]


# Challenges: opened, voting (with the vote buttons), ended; the vote list --------------------
@st.composite
def entries(draw: st.DrawFn) -> list[Entry]:
    count = draw(st.integers(0, 25))
    out = []
    for n in range(1, count + 1):
        picture = draw(st.booleans())
        url = f"https://cdn.example/{draw(st.text('abc123', max_size=300))}.png" if picture else ""
        out.append(
            Entry(
                number=n,
                author_id=str(n),
                author_name=draw(names),
                made=draw(st.sampled_from(MADE)),
                kind="image" if picture else "poem",
                text=draw(long_text(1000)),
                url=url,
                votes=draw(st.integers(0, 10_000)),
                file_name=draw(st.text("abc.", max_size=120)) if picture else "",
                file_type="image/png" if picture else "",
            )
        )
    return out


@st.composite
def challenges(draw: st.DrawFn) -> Challenge:
    return Challenge(
        id=draw(job_ids),
        platform="discord",
        server="1",
        channel="1",
        theme=draw(prompts),
        owner="1",
        opened_at=0.0,
        voting_at=draw(st.floats(0, 4e9)),
        ends_at=draw(st.floats(0, 4e9)),
        rules=draw(long_text(1000)),
        blind=draw(st.booleans()),
        hide_counts=draw(st.booleans()),
        per_member=draw(st.integers(1, 25)),
        every=draw(st.sampled_from(["", "day", "week"])),
        round=draw(st.integers(1, 10**6)),
        state=draw(st.sampled_from([OPEN, VOTING, CLOSED])),
    )


@FAST
@given(challenge=challenges(), shown=entries(), what=st.sampled_from([OPEN, VOTING, CLOSED]))
def test_challenge_posts_fit_and_show_every_entry(
    challenge: Challenge, shown: list[Entry], what: str
) -> None:
    winners = [e for e in shown if e.votes == max(x.votes for x in shown)] if shown else []
    nxt = challenge if what == CLOSED and challenge.every else None
    note = announce(Change(what, challenge, shown, winners, nxt))
    page_payloads(note.text, note.buttons, note.images)
    listed = entries_text(challenge, shown, counts=not challenge.hide_counts)
    page_payloads(listed, vote_buttons(challenge, shown))


@FAST
@given(
    lines=st.lists(
        st.builds(Line, long_text(MAX_LINE_CHARS, 1), st.text(max_size=20), names), max_size=40
    ),
    note=long_text(300),
)
def test_a_poem_written_together_fits_in_its_thread(lines: list[Line], note: str) -> None:
    collab = Collab("c1", "discord", "1", "2", "winter", "free", 40, "1")
    page_payloads(poem_so_far(collab, lines, note))


# Leaderboard, gallery, help, errors -----------------------------------------------------
@FAST
@given(
    standings=st.lists(
        st.builds(
            Standing,
            st.text(max_size=20),
            names,
            st.integers(0, 10**9),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
        ),
        max_size=10,
    )
)
def test_the_leaderboard_fits(standings: list[Standing]) -> None:
    page_payloads(leaderboard_text(standings))


pieces = st.builds(
    Piece,
    job_id=job_ids,
    command=st.sampled_from(RESULT_COMMANDS),
    prompt=prompts,
    text=long_text(5000),
    model=long_text(300),
    seed=st.integers(0, 2**32 - 1),
    user_id=st.text("0123456789", max_size=20),
    user_name=names,
    at=st.just(0.0),
    files=st.lists(st.text(max_size=120), max_size=4),
    parent_id=st.one_of(st.just(""), job_ids),
    parent_author=names,
)


@FAST
@given(
    shown=st.lists(pieces, max_size=10),
    number=st.integers(1, 10**6),
    user=st.text(max_size=40),
    kind=st.sampled_from(["", "poem", "image", "melody"]),
)
def test_a_gallery_page_fits(shown: list[Piece], number: int, user: str, kind: str) -> None:
    page = GalleryPage(shown, number, number + 1, len(shown) * number)
    buttons = (
        Button("Previous", f"gpage:{number - 1}:{kind}:{user[:40]}"),
        Button("Next", f"gpage:{number + 1}:{kind}:{user[:40]}"),
    )
    page_payloads(describe_page(page, user=user, kind=kind), buttons)


@FAST
@given(name=st.one_of(st.just(""), st.sampled_from([c.name for c in CATALOGUE]), prompts))
def test_help_fits(name: str) -> None:
    page_payloads(help_text(name))


@FAST
@given(error=long_text(10_000, 1))
def test_an_error_answer_fits(error: str) -> None:
    page_payloads(error)


def test_the_checker_refuses_what_discord_refuses() -> None:
    """The limits above are checked for real: each of these breaks one."""
    button = {"type": 2, "label": "x" * 81, "custom_id": "y" * 101}
    bad = [
        {"content": "x" * 2001},
        {"embeds": [{"description": "x" * 4097}]},
        {"embeds": [{"description": "x" * 4000}, {"description": "x" * 2001}]},
        {"embeds": [{"title": "x" * 257}]},
        {"embeds": [{"footer": {"text": "x" * 2049}}]},
        {"embeds": [{"author": {"name": "x" * 257}}]},
        {"embeds": [{"fields": [{"name": "n", "value": "x" * 1025}]}]},
        {"embeds": [{}] * 11},
        {"components": [{"type": 1, "components": []}] * 6},
        {"components": [{"type": 1, "components": [{"type": 2, "label": "a"}] * 6}]},
        {"components": [{"type": 1, "components": [button]}]},
        {"components": [{"type": 1, "components": [{"type": 3, "options": [{}] * 26}]}]},
    ]
    for payload in bad:
        assert problems(payload), payload
    assert problems({"content": "x" * 2000, "embeds": [{"description": "x" * 4096}]}) == []
