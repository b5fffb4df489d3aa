"""Every Slack message kind, rendered from hypothesis-made prompts, results and names, is one
Slack accepts: each block passes slack_sdk's validators (`validate_json`, at every level of
the parsed block, through `to_dict`), every text object is within its limit as sent (after
escaping), a message has at most 50 blocks and its notification text fits."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.slack.blocks import (
    brainstorm_header,
    expanded_blocks,
    fallback,
    idea_list_blocks,
    more_ideas_blocks,
    plain_reply,
    result_blocks,
    status_blocks,
    wrap_up_blocks,
)
from adapters.slack.community import community_blocks, community_reply
from adapters.slack.limits import MAX_BLOCKS, problems
from bot.commands.render import help_text, job_title, progress_text, queued_text, render_result
from bot.community.announcements import announce
from bot.community.brainstorm import MAX_IDEA_CHARS, MAX_IDEAS, Idea, Session
from bot.community.challenges import CLOSED, OPEN, VOTING, Challenge, Change, Entry
from bot.community.gallery import Page, Piece, describe_page
from bot.jobs import Attachment, Origin, Progress, Provenance, Result
from bot.replies import Button, Reply

# Texts heavy in what escaping grows (`&`, `<`, `>`) and what a mention looks like: any mix
# of such characters (and the control characters a small model emits), or one unit repeated
# up to the limit (a prompt of 500 "& ").
CHARS = st.sampled_from([*"&<>*_~`@!# \n\x01\x0b", "a", "é", "🌊", "x"])
UNITS = st.sampled_from(["& ", "&", "<@U999> ", "<!channel>", "&<>", "@everyone ", "word "])


def texts(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    repeated = st.builds(
        lambda unit, n: (unit * n)[:max_size], UNITS, st.integers(min_size, max_size)
    )
    return st.one_of(st.text(CHARS, min_size=min_size, max_size=max_size), repeated).filter(
        lambda t: len(t) >= min_size
    )


PROMPT = texts(1000)  # the front desk's limit on a prompt
TEXT = texts(12_000)
NAME = texts(80)
SHORT = texts(300)
COMMANDS = ("poem", "story", "image", "melody", "inspire", "brainstorm")
ORIGIN = Origin(platform="slack", route="slack", channel_id="C1", delivery_id="d1")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(blocks: list[dict[str, Any]], text: str = "") -> None:
    assert len(blocks) <= MAX_BLOCKS
    assert problems(blocks) == [], blocks
    assert len(text) <= 40_000


@st.composite
def results(draw: st.DrawFn) -> Result:
    ok = draw(st.booleans())
    files = draw(st.integers(0, 2))
    return Result(
        job_id="a" * 24,
        ok=ok,
        command=draw(st.sampled_from(COMMANDS)),
        prompt=draw(PROMPT),
        text=draw(TEXT) if ok else "",
        error="" if ok else draw(SHORT) or "failed",
        note=draw(SHORT),
        provenance=Provenance(model=draw(NAME) or "m", generator="g", seed=7) if ok else None,
        attachments=tuple(
            Attachment(filename=f"f{n}.png", content_type="image/png", size=1, key=f"k{n}")
            for n in range(files)
        ),
        origin=ORIGIN.model_copy(update={"user_name": draw(NAME)}),
    )


@FAST
@given(command=st.sampled_from(COMMANDS), prompt=PROMPT, position=st.none() | st.integers(0, 99))
def test_the_job_reply_fits(command: str, prompt: str, position: int | None) -> None:
    reply = Reply(queued_text(position, 2), job_id="j", command=command, prompt=prompt)
    check(status_blocks(reply.title(), reply.text), fallback(reply.title(), reply.text))


@FAST
@given(prompt=PROMPT, partial=TEXT, stage=st.sampled_from(["generating", "waiting for a slot"]))
def test_progress_fits(prompt: str, partial: str, stage: str) -> None:
    progress = Progress(
        job_id="j", fraction=0.5, stage=stage, partial_text=partial, origin=ORIGIN, prompt=prompt
    )
    title = job_title("poem", progress.prompt)
    status = progress_text(progress)
    check(status_blocks(title, status, partial), fallback(title, status))


@FAST
@given(result=results(), credit=SHORT)
def test_every_result_kind_fits(result: Result, credit: str) -> None:
    message = render_result(result, credit=credit)
    blocks = result_blocks(
        message, result.job_id, result.origin.user_name, command=result.command, credit=credit
    )
    check(blocks, fallback(message.title, message.body))


@st.composite
def ideas(draw: st.DrawFn) -> list[Idea]:
    count = draw(st.integers(0, MAX_IDEAS))
    return [
        Idea(
            number=n,
            text=draw(texts(MAX_IDEA_CHARS, min_size=1)),
            author_id=draw(st.sampled_from(["", "U123", "not an id"])),
            author_name=draw(NAME),
            votes=draw(st.integers(0, 30)),
        )
        for n in range(1, count + 1)
    ]


@FAST
@given(topic=PROMPT, footer=SHORT, note=SHORT, found=ideas(), body=TEXT)
def test_brainstorm_messages_fit(
    topic: str, footer: str, note: str, found: list[Idea], body: str
) -> None:
    session = Session("s1", topic, "slack", "C1", "1.2", "1.3", "U1", 8)
    check(brainstorm_header(topic, footer), fallback(topic))
    check(idea_list_blocks(session, found, note))
    check(wrap_up_blocks(session, found))
    idea = found[0].text if found else ""
    check(expanded_blocks(1, idea, body, footer))
    check(more_ideas_blocks(f"Added 3 more ideas like #1: {note}", footer))


@st.composite
def changes(draw: st.DrawFn) -> Change:
    challenge = Challenge(
        id="c1",
        platform="slack",
        server="T1",
        channel="C1",
        theme=draw(PROMPT),
        owner="U1",
        opened_at=0.0,
        voting_at=60.0,
        ends_at=120.0,
        rules=draw(SHORT),
        blind=draw(st.booleans()),
    )
    entries = [
        Entry(
            number=n,
            author_id=f"U{n}",
            author_name=draw(NAME),
            made="human",
            kind="poem",
            text=draw(texts(1000)),
            votes=draw(st.integers(0, 9)),
        )
        for n in range(1, draw(st.integers(0, 25)) + 1)
    ]
    what = draw(st.sampled_from([OPEN, VOTING, CLOSED]))
    return Change(what, challenge, entries, winners=entries[:1] if what == CLOSED else [])


@FAST
@given(change=changes())
def test_challenge_posts_and_votes_fit(change: Change) -> None:
    note = announce(change)
    check(community_blocks(note.text, note.buttons), plain_reply(note.text))


@FAST
@given(names=st.lists(NAME, max_size=10), votes=st.lists(st.integers(0, 99), max_size=25))
def test_leaderboard_and_vote_answers_fit(names: list[str], votes: list[int]) -> None:
    # The leaderboard's wording (bot.community.commands), with any member names.
    lines = ["Challenge leaderboard (points · wins · streak):"]
    lines += [f"{i}. {name}: 3 pts · 1 wins · 1 in a row" for i, name in enumerate(names, 1)]
    buttons = tuple(Button(f"Vote #{n}", f"cvote:c1:{n}") for n, _ in enumerate(votes, 1))
    reply = Reply("\n".join(lines), public=True, buttons=buttons)
    answer = community_reply(reply)
    check(answer["blocks"], answer["text"])


@FAST
@given(
    pieces=st.lists(st.tuples(PROMPT, TEXT, NAME), max_size=5),
    user=NAME,
    label=texts(120),
)
def test_gallery_pages_fit(pieces: list[tuple[str, str, str]], user: str, label: str) -> None:
    page = Page(
        [
            Piece("p" * 24, "poem", prompt, text, "model", 7, "U1", name, 0.0, files=["a.png"])
            for prompt, text, name in pieces
        ],
        number=1,
        pages=3,
        total=len(pieces),
    )
    buttons = (Button("Previous", "gpage:0::"), Button(label or "Next", "gpage:2::"))
    check(community_blocks(describe_page(page, user=user), buttons))


@FAST
@given(name=st.sampled_from(["", "poem", "challenge", "brainstorm", "nope"]), error=SHORT)
def test_help_and_errors_fit(name: str, error: str) -> None:
    for reply in (Reply(help_text(name), public=True), Reply(error or "x", error=True)):
        answer = community_reply(reply)
        check(answer.get("blocks", []), answer["text"])
    check(community_blocks(help_text(name), ()))
