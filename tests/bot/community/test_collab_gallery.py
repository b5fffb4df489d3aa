"""Poems written together and the gallery against a real Redis, and the community commands
through the front desk (the model's proposed themes, a moderator's pick)."""

from __future__ import annotations

import pytest

from bot.community.collab import (
    Collab,
    CollabStore,
    Line,
    compiled,
    first_line,
    lines_for,
    rhyme_note,
)
from bot.community.gallery import GalleryStore, describe_piece
from bot.desk.front_desk import FrontDesk
from bot.errors import UserError
from bot.jobs import Job, JobKind, Origin, Provenance, Result
from bot.queue.streams import JobQueue
from bot.replies import Action


def origin(n: int, user: str = "alice", **over: str) -> Origin:
    fields = {
        "platform": "discord",
        "route": "discord",
        "channel_id": "ch",
        "user_id": user,
        "user_name": user.title(),
        "guild_id": "g1",
        "delivery_id": f"d{n}",
    }
    fields.update(over)
    return Origin(**fields)


def test_forms_set_the_line_count_and_rhymes_are_reported() -> None:
    assert lines_for("sonnet", 8) == 14 and lines_for("haiku", 8) == 3
    assert lines_for("limerick", 2) == 5 and lines_for("free", 6) == 6
    lines = [Line("The cat sat on the mat", "a", "A"), Line("It dreamed of a hat", "b", "B")]
    assert rhyme_note("couplet", lines) == "line 2 rhymes with line 1 (mat / hat) ✓"
    lines[1] = Line("It dreamed of the moon", "b", "B")
    assert rhyme_note("couplet", lines) == "line 2 should rhyme with line 1 (mat / moon do not)"
    assert rhyme_note("free", lines) == ""
    assert first_line('\n  "The tide comes in"  \nand more') == "The tide comes in"
    assert first_line("…\n") == ""


async def test_turns_the_model_and_the_credits(queue: JobQueue) -> None:
    store = CollabStore(queue.redis, keys=queue.keys)
    collab = await store.start(
        Collab("p1", "slack", "g1", "ch", "snow", "couplet", 2, "alice", model_every=0)
    )
    with pytest.raises(UserError, match="being written here already"):
        await store.start(Collab("p2", "slack", "g1", "ch", "rain", "free", 4, "bob"))
    await store.add(collab, "The snow falls soft upon the ground", "alice", "Alice")
    with pytest.raises(UserError, match="someone else"):
        await store.add(collab, "and more", "alice", "Alice")
    job = await store.ask_model(collab, origin(1), seed=3)
    assert job.kind is JobKind.TEXT and job.text is not None
    assert "It must rhyme with “ground”" in job.text.instruction
    assert "The snow falls soft upon the ground\n" in job.text.completion
    here = await store.here("slack", "ch")
    assert here is not None and here.pending_job == job.id
    with pytest.raises(UserError, match="The model is writing"):
        await store.add(here, "too soon", "bob", "Bob")
    result = Result(
        job_id=job.id,
        ok=True,
        command="poem",
        prompt="snow",
        text="And hushes every little sound\nextra",
        origin=job.origin,
    )
    await queue.redis.set(queue.keys.result(job.id), result.model_dump_json())
    lines, verdict = await store.finish(here)
    assert [(line.text, line.by) for line in lines] == [
        ("The snow falls soft upon the ground", "Alice"),
        ("And hushes every little sound", "atelier"),
    ]
    assert verdict == "couplet form checked: met"
    text = compiled(here, lines, verdict)
    assert text.splitlines()[0] == "“snow” (couplet)" and "Written by Alice, atelier." in text
    assert await store.here("slack", "ch") is None


def piece_result(job: Job, text: str) -> Result:
    return Result(
        job_id=job.id,
        ok=True,
        command=job.command,
        prompt=job.prompt,
        text=text,
        provenance=Provenance(model="org/poet", generator="t", seed=job.seed, settings={"a": 1}),
        origin=job.origin,
        finished_at=1_000_000.0 + len(text),
    )


async def test_the_gallery_keeps_provenance_credits_remixes_and_expires(
    queue: JobQueue,
) -> None:
    desk = FrontDesk(queue)
    gallery = GalleryStore(queue.redis, keys=queue.keys)
    first = await desk.handle("/poem the harbour seed:4", origin(1))
    assert first.job_id is not None
    parent = await desk.stored_job(first.job_id)
    assert parent is not None
    await gallery.record(piece_result(parent, "boats"))
    [remix] = await desk.follow_up(
        Action.REMIX,
        parent.id,
        origin(2, user="bob"),
        text="the harbour at night",
    )
    assert remix.job_id is not None
    child = await desk.stored_job(remix.job_id)
    assert child is not None and child.parent_id == parent.id
    piece = await gallery.record(piece_result(child, "boats at night"))
    assert piece is not None and piece.parent_author == "Alice" and piece.by == "Bob"
    shown = describe_piece(piece)
    assert f"remix of [{parent.id[:8]}] by Alice" in shown
    assert "made with org/poet · seed" in shown and "a=1" in shown
    page = await gallery.page("discord", "g1", user="bob")
    assert [p.job_id for p in page.pieces] == [child.id]
    assert (await gallery.page("discord", "g1", kind="image")).total == 0
    with pytest.raises(UserError, match="Only the member"):
        await gallery.delete("discord", "g1", child.id[:8], "alice", admin=False)
    # Retention: pieces older than the server's days are dropped when the gallery is read.
    kept = await gallery.page("discord", "g1", keep_days=1, now=1_000_000.0 + 86_400 + 12)
    assert [p.job_id for p in kept.pieces] == [child.id]
    assert await gallery.piece("discord", "g1", parent.id) is None
    failed = Result(job_id="x" * 12, ok=False, command="poem", prompt="p", origin=origin(3))
    assert await gallery.record(failed) is None


async def test_the_model_proposes_themes_and_the_moderator_picks_one(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    proposed = await desk.handle("/challenge new", origin(1, user="mod"), admin=True)
    assert not proposed.error and proposed.job_id is not None
    assert "/challenge new pick:1, pick:2 or pick:3" in proposed.text
    job = await desk.stored_job(proposed.job_id)
    assert job is not None and job.command == "brainstorm" and job.options["count"] == 3
    early = await desk.handle("/challenge new pick:2", origin(2, user="mod"), admin=True)
    assert early.error and "no proposed themes" in early.text
    result = piece_result(job, "1. Lighthouses\n2. Paper boats\n3. The first frost")
    await queue.redis.set(queue.keys.result(job.id), result.model_dump_json())
    opened = await desk.handle(
        "/challenge new pick:2 duration:1h", origin(3, user="mod"), admin=True
    )
    assert opened.public and "New challenge #1: “Paper boats”" in opened.text
    member = await desk.handle("/challenge end", origin(4, user="bob"))
    assert member.error and "Only moderators" in member.text
    ended = await desk.handle("/challenge end", origin(5, user="mod"), admin=True)
    assert ended.public and "No votes were cast" in ended.text
    dm = await desk.handle("/gallery", origin(6, guild_id=""))
    assert dm.error and "belongs to a server" in dm.text


async def test_styles_are_saved_used_with_their_model_and_counted(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    saved = await desk.handle(
        "/style save dusk soft light, long shadows model:org/dusk-poet", origin(1)
    )
    assert saved.text == "Saved the style 'dusk' for /poem: soft light, long shadows."
    bad = await desk.handle("/style save x too short a name", origin(2))
    assert bad.error and "2 to 32 letters" in bad.text
    used = await desk.handle("/style use Dusk a harbour", origin(3, user="bob"))
    assert used.job_id is not None and not used.error
    job = await desk.stored_job(used.job_id)
    assert job is not None and job.prompt == "a harbour, soft light, long shadows"
    assert job.model == "org/dusk-poet" and job.command == "poem"
    again = await desk.handle("/style use dusk a harbour", origin(3, user="bob"))
    assert again.duplicate  # the same delivery: no new job, not counted twice
    await desk.handle("/style use dusk the moon", origin(4, user="carol"))
    missing = await desk.handle("/style use noon a harbour", origin(5))
    assert missing.error and "no style 'noon'" in missing.text
    listed = await desk.handle("/style list", origin(6))
    assert (
        "dusk (/poem, model org/dusk-poet): soft light, long shadows — used 2 times, "
        "saved by Alice" in listed.text
    )
