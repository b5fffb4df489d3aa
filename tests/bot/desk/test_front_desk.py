"""The front desk's server rules and follow-ups against a real Redis: settings that persist,
channel and word rules, per-member rate limits, Regenerate / Variations / Remix / Delete,
and typed options (Discord) checked like command text."""

from __future__ import annotations

import pytest

from bot.commands.parse import from_options, parse
from bot.desk.front_desk import FrontDesk
from bot.desk.server_settings import ServerSettings, SettingsStore
from bot.errors import UserError
from bot.jobs import JobKind, Origin, job_id_for
from bot.queue.streams import JobQueue
from bot.replies import Action


def at(n: int | str, *, user: str = "u1", guild: str = "g1", channel: str = "c1") -> Origin:
    return Origin(
        platform="discord",
        route="discord",
        channel_id=channel,
        user_id=user,
        guild_id=guild,
        delivery_id=f"interaction-{n}",
    )


async def test_settings_persist_and_only_admins_change_them(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    denied = await desk.handle("/atelier settings key:jobs_per_minute value:2", at(1))
    assert denied.error and "Only server admins" in denied.text
    shown = await desk.handle("/atelier settings key:jobs_per_minute value:2", at(2), admin=True)
    assert not shown.error and "jobs_per_minute: 2" in shown.text
    # A new front desk (another adapter process) reads the same settings from Redis.
    again = await FrontDesk(queue).handle("/atelier settings", at(3))
    assert "jobs_per_minute: 2" in again.text and "allowed_channels: all" in again.text
    bad = await desk.handle("/atelier settings key:jobs_per_minute value:lots", at(4), admin=True)
    assert bad.error and "whole number from 1 to 600" in bad.text
    unknown = await desk.handle("/atelier settings key:colour value:red", at(5), admin=True)
    assert unknown.error and "Unknown setting 'colour'" in unknown.text
    elsewhere = await desk.handle("/atelier settings", at(6, guild=""))
    assert elsewhere.error and "use this command in one" in elsewhere.text


async def test_channel_and_word_rules_refuse_before_enqueueing(queue: JobQueue) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("discord", "g1", "allowed_channels", "<#c9> #c8")
    await store.set("discord", "g1", "moderation_words", "gloom, Rust-bucket")
    desk = FrontDesk(queue, store)
    wrong_channel = await desk.handle("/poem the sea", at(1))
    assert wrong_channel.error and "<#c9>, <#c8>" in wrong_channel.text
    word = await desk.handle("/poem a RUST-BUCKET at dawn", at(2, channel="c9"))
    assert word.error and "'rust-bucket'" in word.text
    near_miss = await desk.handle("/poem the gloomy sea", at(3, channel="c9"))
    assert not near_miss.error  # whole words only: "gloomy" is not "gloom"
    assert await queue.depth(JobKind.TEXT) == 1
    other_server = await desk.handle("/poem gloom", at(4, guild="g2"))
    assert not other_server.error


async def test_rate_limit_per_member_per_server(queue: JobQueue) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("discord", "g1", "jobs_per_minute", "2")
    desk = FrontDesk(queue, store)
    replies = [await desk.handle(f"/poem n{n}", at(n)) for n in range(3)]
    assert [r.error for r in replies] == [False, False, True]
    assert "this server's limit" in replies[2].text and "Try again in" in replies[2].text
    other = await desk.handle("/poem n", at(9, user="u2"))
    assert not other.error


async def test_server_model_setting_reaches_the_job(queue: JobQueue) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("discord", "g1", "text_model", "org/poet-2")
    desk = FrontDesk(queue, store)
    reply = await desk.handle("/poem the sea", at(1))
    job = await desk.stored_job(reply.job_id or "")
    assert job is not None and job.model == "org/poet-2"
    await store.set("discord", "g1", "text_model", "default")
    assert (await store.get("discord", "g1")) == ServerSettings()


async def test_regenerate_variations_and_remix(queue: JobQueue) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("discord", "g1", "member_max_running", "10")  # no worker finishes them
    desk = FrontDesk(queue, store)
    first = await desk.handle("/poem the sea form:haiku mood:calm seed:5", at(1))
    parent = await desk.stored_job(first.job_id or "")
    assert parent is not None and parent.seed == 5

    (regen,) = await desk.follow_up(Action.REGENERATE, parent.id, at("click-1"))
    again = await desk.follow_up(Action.REGENERATE, parent.id, at("click-1"))
    assert again[0].duplicate and again[0].job_id == regen.job_id  # a repeated click
    child = await desk.stored_job(regen.job_id or "")
    assert child is not None and child.parent_id == parent.id
    assert child.options == parent.options and child.text == parent.text
    assert child.seed != parent.seed

    variations = await desk.follow_up(Action.VARIATIONS, parent.id, at("click-2"))
    jobs = [await desk.stored_job(r.job_id or "") for r in variations]
    assert len({j.id for j in jobs if j}) == 3 and len({j.seed for j in jobs if j}) == 3

    (remix,) = await desk.follow_up(
        Action.REMIX, parent.id, at("modal-1"), text="the harbour at night mood:dark"
    )
    mixed = await desk.stored_job(remix.job_id or "")
    assert mixed is not None and mixed.prompt == "the harbour at night"
    assert mixed.options["mood"] == "dark" and mixed.options["form"] == "haiku"
    assert mixed.text is not None and "harbour" in mixed.text.completion

    bad = await desk.follow_up(Action.REMIX, parent.id, at("modal-2"), text="x form:ode")
    assert bad[0].error and "form" in bad[0].text
    gone = await desk.follow_up(Action.REGENERATE, "0" * 24, at("click-3"))
    assert gone[0].error and "too old" in gone[0].text


async def test_delete_is_for_the_requester_or_moderators(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    reply = await desk.handle("/poem the sea", at(1, user="alice"))
    job_id = reply.job_id or ""
    assert await desk.may_delete(job_id, "alice", moderator=False)
    assert not await desk.may_delete(job_id, "bob", moderator=False)
    assert await desk.may_delete(job_id, "bob", moderator=True)


async def test_status_lists_your_jobs(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    await desk.handle("/poem the quiet sea", at(1, user="alice"))
    mine = await desk.handle("/atelier status", at(2, user="alice"))
    assert "Your recent jobs:" in mine.text and "/poem the quiet sea" in mine.text
    assert "#1 in line" in mine.text
    theirs = await desk.handle("/atelier status", at(3, user="bob"))
    assert "Your jobs: none recently." in theirs.text


def test_typed_options_are_checked_like_text(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = from_options(("poem",), "the sea", {"form": "haiku", "seed": 7})
    assert inv == parse("/poem the sea form:haiku seed:7")
    with pytest.raises(UserError, match="must be one of"):
        from_options(("poem",), "the sea", {"form": "ode"})
    with pytest.raises(UserError, match="limit is 1000"):
        from_options(("poem",), "x" * 1001, {})
    import dataclasses

    from bot.commands import catalogue

    lacking = dataclasses.replace(catalogue.command("inspire"), available=False)  # type: ignore[type-var]
    monkeypatch.setitem(catalogue._BY_NAME, "inspire", lacking)
    with pytest.raises(UserError, match="not available yet"):
        from_options(("inspire",), "autumn", {})
    settings = from_options(("atelier", "settings"), "", {"key": "text_model"})
    assert settings.options == {"key": "text_model"}


async def test_inspire_makes_a_poem_an_image_and_a_melody(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    reply = await desk.handle("/inspire harvest moon mood:calm seed:11", at(1))
    assert not reply.error and "An inspiration pack on “harvest moon”" in reply.text
    assert "poem, image, melody, seed 11" in reply.text
    jobs = {}
    for name in ("poem", "image", "melody"):
        job = await desk.stored_job(job_id_for("discord", f"interaction-1:{name}"))
        assert job is not None and job.command == name and job.seed == 11
        jobs[name] = job
    assert jobs["poem"].options["mood"] == "calm" and jobs["poem"].prompt == "harvest moon"
    assert jobs["image"].prompt == "harvest moon, calm"  # the palette reads mood words
    assert jobs["melody"].options["mood"] == "calm"
    assert [await queue.depth(k) for k in JobKind] == [1, 1, 1]
    assert reply.job_id == jobs["poem"].id  # the reply follows the poem; the rest are named
    assert reply.more_jobs == (jobs["image"].id, jobs["melody"].id)
    again = await desk.handle("/inspire harvest moon mood:calm seed:11", at(1))
    assert again.duplicate and [await queue.depth(k) for k in JobKind] == [1, 1, 1]
