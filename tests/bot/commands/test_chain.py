"""Chaining across media: the prompts a poem's Illustrate / Score it and an image's Write
about it derive (pure), and the front desk's chain follow-ups against a real Redis: parent
links, the server's models and rules, one job per click, and the credit line."""

from __future__ import annotations

import dataclasses

import pytest

from bot.commands import catalogue
from bot.commands.chain import chain_credit, credit_line, derive, offered
from bot.commands.imagery import MOOD_CUES, imagery_prompt, mood_of, picture_words
from bot.community.gallery import GalleryStore, describe_piece
from bot.desk.front_desk import FrontDesk
from bot.desk.server_settings import SettingsStore
from bot.jobs import Attachment, Job, JobKind, Origin, Provenance, Result, load_job, load_result
from bot.queue.streams import JobQueue
from bot.replies import Action, result_actions

POEM = "Grey fog hides the harbour lights\nA ghost bell tolls across the water\nand we wait"


def at(n: int | str, user: str, name: str = "") -> Origin:
    return Origin(
        platform="discord",
        route="discord",
        channel_id="c1",
        user_id=user,
        user_name=name or user,
        guild_id="g1",
        delivery_id=f"click-{n}",
    )


def job(command: str, prompt: str, user: str, *, parent: str | None = None, **opts: str) -> Job:
    kind = {"image": JobKind.IMAGE, "melody": JobKind.MUSIC}.get(command, JobKind.TEXT)
    return Job(
        id=f"{command}-{user}-job",
        kind=kind,
        command=command,
        prompt=prompt,
        options=dict(opts),
        seed=1,
        origin=at(0, user.lower(), user),
        parent_id=parent,
    )


def result_of(parent: Job, text: str = "", alt: str = "") -> Result:
    png = Attachment(filename="a.png", content_type="image/png", size=1, key="k", description=alt)
    files = (png,)
    return Result(
        job_id=parent.id,
        ok=True,
        command=parent.command,
        prompt=parent.prompt,
        text=text,
        attachments=files if alt else (),
        origin=parent.origin,
    )


# Pure ------------------------------------------------------------------------------------
def test_picture_words_skip_plain_words_and_keep_the_poems_order() -> None:
    picked = picture_words(POEM.splitlines(), limit=5)
    assert picked == ["grey", "fog", "hides", "harbour", "lights"]
    assert imagery_prompt("the harbour", ["and so it is"]) == "the harbour"
    assert imagery_prompt("", ["and so it is"]) == "a poem"


def test_mood_is_one_the_melody_command_knows() -> None:
    assert mood_of(POEM) == "eerie"  # fog, ghost
    assert mood_of("my love, my heart, a rose") == "romantic"
    assert mood_of("numbers and tables") == "calm"  # nothing to go on: the default
    assert mood_of(POEM, "very hopeful") == "hopeful"  # the mood it was asked with wins
    assert mood_of(POEM, "wistful") == "eerie"  # ... when the melody knows it
    assert set(MOOD_CUES) == set(catalogue.MOOD.suggestions)


def test_illustrate_draws_the_poems_imagery_and_mood() -> None:
    poem = job("poem", "the harbour at night", "Ann")
    made = derive("illustrate", poem, result_of(poem, POEM))
    assert made.command == "image" and made.options == {}
    assert made.prompt == (
        "the harbour at night: grey, fog, hides, harbour, lights, ghost, bell, tolls, eerie"
    )
    # The result has expired: the poem's prompt stands in for its text.
    assert derive("illustrate", poem, None).prompt == "the harbour at night: harbour, night, calm"


def test_score_takes_the_topic_and_a_mood_and_write_takes_the_alt_text() -> None:
    poem = job("poem", "the harbour at night", "Ann", mood="solemn")
    made = derive("score", poem, result_of(poem, POEM))
    assert (made.command, made.prompt, made.options) == (
        "melody",
        "the harbour at night",
        {"mood": "solemn"},
    )
    image = job("image", "a red kite over dunes", "Bob")
    written = derive("write", image, result_of(image, alt="A red kite above sand dunes"))
    assert (written.command, written.prompt) == ("poem", "A red kite above sand dunes")
    assert derive("write", image, None).prompt == "a red kite over dunes"


def test_buttons_are_offered_by_kind_and_only_where_the_target_is_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert offered("poem") == offered("story") == offered("script") == ("illustrate", "score")
    assert offered("image") == ("write",) and offered("melody") == ()
    assert result_actions("image")[-1] is Action.WRITE and len(result_actions("melody")) == 4
    lacking = dataclasses.replace(catalogue.command("melody"), available=False)  # type: ignore[type-var]
    monkeypatch.setitem(catalogue._BY_NAME, "melody", lacking)
    assert offered("poem") == ("illustrate",)


def test_credit_walks_the_chain_and_skips_same_kind_links() -> None:
    poem = job("poem", "x", "Ann")
    image = job("image", "y", "Bob", parent=poem.id)
    again = job("image", "y", "Dee", parent=image.id)  # a Regenerate of the image
    melody = job("melody", "z", "Cy", parent=again.id)
    assert chain_credit(image, [poem]) == "after poem by Ann, asked by Bob"
    assert chain_credit(melody, [again, image, poem]) == (
        "after poem by Ann → image by Dee, asked by Cy"
    )
    assert chain_credit(again, [image, poem]) == "after poem by Ann, asked by Dee"
    assert chain_credit(poem, []) == ""


# Front desk, real Redis ------------------------------------------------------------------
async def finish_text(queue: JobQueue, text: str) -> Job:
    """Play the text worker for one job."""
    await queue.ensure_group(JobKind.TEXT)
    [entry] = await queue.read([JobKind.TEXT], "test-worker", 1, 500)
    made = load_job(entry.fields["job"])
    result = Result(
        job_id=made.id,
        ok=True,
        command=made.command,
        prompt=made.prompt,
        text=text,
        provenance=Provenance(model="m", generator="test", seed=made.seed),
        origin=made.origin,
    )
    await queue.finish(JobKind.TEXT, entry.entry_id, result)
    return made


async def test_illustrate_and_score_make_linked_jobs_once_per_click(queue: JobQueue) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("discord", "g1", "image_model", "org/pictures")
    desk = FrontDesk(queue, store)
    asked = await desk.handle("/poem the harbour at night seed:3", at(1, "u-ann", "Ann"))
    poem = await finish_text(queue, POEM)
    assert poem.id == asked.job_id

    [picture] = await desk.follow_up(Action.ILLUSTRATE, poem.id, at(2, "u-bob", "Bob"))
    assert not picture.error and picture.kind is JobKind.IMAGE
    image = await desk.stored_job(picture.job_id or "")
    assert image is not None and image.parent_id == poem.id and image.command == "image"
    assert image.prompt.startswith("the harbour at night: grey, fog") and image.prompt.endswith(
        "eerie"
    )
    assert image.model == "org/pictures"  # the server's image model, not the poem's
    assert image.origin.user_name == "Bob"
    # The gallery keeps the link and credits the poem's author.
    gallery = GalleryStore(queue.redis, keys=queue.keys)
    await gallery.record(load_result(await queue.redis.get(queue.keys.result(poem.id))))
    drawn = Result(
        job_id=image.id,
        ok=True,
        command="image",
        prompt=image.prompt,
        provenance=Provenance(model="sketch", generator="test", seed=image.seed),
        origin=image.origin,
    )
    piece = await gallery.record(drawn)
    assert piece is not None and piece.parent_id == poem.id and piece.parent_command == "poem"
    assert f"after /poem [{poem.id[:8]}] by Ann" in describe_piece(piece)
    [repeat] = await desk.follow_up(Action.ILLUSTRATE, poem.id, at(2, "u-bob", "Bob"))
    assert repeat.duplicate and await queue.depth(JobKind.IMAGE) == 1

    [tune] = await desk.follow_up(Action.SCORE, image.id, at(3, "u-cy", "Cy"))
    assert tune.error and "not offered on a /image" in tune.text  # images: Write about it
    [tune] = await desk.follow_up(Action.SCORE, poem.id, at(4, "u-cy", "Cy"))
    melody = await desk.stored_job(tune.job_id or "")
    assert melody is not None and melody.options["mood"] == "eerie"
    assert melody.parent_id == poem.id and await queue.depth(JobKind.MUSIC) == 1

    [words] = await desk.follow_up(Action.WRITE, image.id, at(5, "u-dee", "Dee"))
    poem_two = await desk.stored_job(words.job_id or "")
    assert poem_two is not None and poem_two.command == "poem" and poem_two.prompt == image.prompt
    credit = await credit_line(queue.redis, queue.keys, poem_two.id)
    assert credit == "after poem by Ann → image by Bob, asked by Dee"


async def test_a_chain_click_meets_the_servers_rules(queue: JobQueue) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("discord", "g1", "jobs_per_minute", "1")
    desk = FrontDesk(queue, store)
    await desk.handle("/poem the harbour", at(1, "u-ann"))
    poem = await finish_text(queue, POEM)
    await store.set("discord", "g1", "moderation_words", "ghost")
    [refused] = await desk.follow_up(Action.ILLUSTRATE, poem.id, at(2, "u-bob"))
    assert refused.error and "'ghost'" in refused.text
    assert await queue.depth(JobKind.IMAGE) == 0
    # The server's image policy of the moment goes with the picture.
    await store.set("discord", "g1", "moderation_words", "none")
    await store.set("discord", "g1", "image_safety", "blur")
    [drawn] = await desk.follow_up(Action.ILLUSTRATE, poem.id, at(3, "u-bob"))
    image = await desk.stored_job(drawn.job_id or "")
    assert image is not None and image.image_safety == "blur"
    # A click is a new job for the member's rate limit (one a minute here), like a command.
    [slowed] = await desk.follow_up(Action.SCORE, poem.id, at(4, "u-bob"))
    assert slowed.error and "Try again in" in slowed.text
    assert await queue.depth(JobKind.MUSIC) == 0
