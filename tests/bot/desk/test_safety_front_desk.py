"""Moderation at the front desk against a real Redis: the built-in list refuses before
anything is queued, the image policy is a persisted, validated server setting that travels
with each image job, and refusals become notes for the server's moderation log."""

from __future__ import annotations

from bot.desk.front_desk import FrontDesk
from bot.desk.moderation import ModLog
from bot.desk.server_settings import SettingsStore
from bot.jobs import JobKind, Origin, load_job
from bot.queue.streams import JobQueue
from bot.replies import Action


def at(n: int | str, *, user: str = "u1", guild: str = "g1") -> Origin:
    return Origin(
        platform="discord",
        route="discord",
        channel_id="c1",
        user_id=user,
        user_name=f"member-{user}",
        guild_id=guild,
        delivery_id=f"safety-{n}",
    )


async def depth(queue: JobQueue) -> int:
    return sum([await queue.depth(kind) for kind in JobKind])


async def test_the_built_in_list_refuses_before_anything_is_queued(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    minors = await desk.handle("/poem l0licon in the garden", at(1))
    assert minors.error and minors.job_id is None
    assert "built-in list (category: sexual content involving minors)" in minors.text
    assert "Rephrase it" in minors.text
    extreme = await desk.handle("/story a snuff film", at(2))
    assert extreme.error and "category: extreme content" in extreme.text
    pack = await desk.handle("/inspire naked children", at(3))
    assert pack.error and "involving minors" in pack.text
    assert await depth(queue) == 0
    # Not even a server with image_safety off, nor a direct message, escapes the hard list.
    await desk.handle("/atelier settings key:image_safety value:off", at(4), admin=True)
    lax = await desk.handle("/image a loli, nsfw", at(5))
    assert lax.error and "involving minors" in lax.text
    direct = await desk.handle("/image jailbait", at(6, guild=""))
    assert direct.error and "involving minors" in direct.text
    assert await depth(queue) == 0
    fine = await desk.handle("/poem children playing in the snow", at(7))
    assert not fine.error and await queue.depth(JobKind.TEXT) == 1


async def test_image_safety_is_a_persisted_validated_setting(queue: JobQueue) -> None:
    desk = FrontDesk(queue)
    shown = await desk.handle("/atelier settings", at(1))
    assert "image_safety: strict" in shown.text and "moderation_log_channel: none" in shown.text
    bad = await desk.handle("/atelier settings key:image_safety value:lenient", at(2), admin=True)
    assert bad.error and "image_safety is strict" in bad.text and "blur" in bad.text
    member = await desk.handle("/atelier settings key:image_safety value:off", at(3))
    assert member.error and "Only server admins" in member.text
    ok = await desk.handle("/atelier settings key:image-safety value:BLUR", at(4), admin=True)
    assert not ok.error and "image_safety: blur" in ok.text
    # Another process (a worker, another adapter) reads it back from Redis.
    stored = await SettingsStore(queue.redis, keys=queue.keys).get("discord", "g1")
    assert stored.image_safety == "blur"
    log = await desk.handle(
        "/atelier settings key:moderation_log_channel value:<#C77>", at(5), admin=True
    )
    assert "moderation_log_channel: C77" in log.text
    two = await desk.handle(
        '/atelier settings key:moderation_log_channel value:"#a #b"', at(6), admin=True
    )
    assert two.error and "one channel for moderation notes" in two.text


async def test_strict_refuses_sexual_image_prompts_and_every_job_carries_the_policy(
    queue: JobQueue,
) -> None:
    desk = FrontDesk(queue)
    # No worker finishes these jobs: let the member hold more than the default three.
    await desk.settings.set("discord", "g1", "member_max_running", "10")
    refused = await desk.handle("/image a NUDE figure study", at(1))
    assert refused.error and "category: sexual content" in refused.text
    assert "image_safety: strict" in refused.text
    assert await depth(queue) == 0
    poem = await desk.handle("/poem a nude figure study", at(2))  # words, not pictures
    assert not poem.error
    strict_image = await desk.handle("/image a harbour at dusk", at(3))
    job = await desk.stored_job(str(strict_image.job_id))
    assert job is not None and job.image_safety == "strict"

    await desk.handle("/atelier settings key:image_safety value:blur", at(4), admin=True)
    blurred = await desk.handle("/image a nude figure study", at(5))
    assert not blurred.error
    job = await desk.stored_job(str(blurred.job_id))
    assert job is not None and job.image_safety == "blur"
    # Regenerate takes the server's policy of now, not the parent's.
    await desk.handle("/atelier settings key:image_safety value:off", at(6), admin=True)
    [again] = await desk.follow_up(Action.REGENERATE, str(blurred.job_id), at(7))
    regenerated = await desk.stored_job(str(again.job_id))
    assert regenerated is not None and regenerated.image_safety == "off"
    # A remix back to a strict server is checked again.
    await desk.handle("/atelier settings key:image_safety value:strict", at(8), admin=True)
    [remix] = await desk.follow_up(Action.REMIX, str(blurred.job_id), at(9), text="topless")
    assert remix.error and "category: sexual content" in remix.text
    entries = await queue.redis.xrange(queue.keys.jobs(JobKind.IMAGE))
    assert {load_job(f["job"]).image_safety for _, f in entries} == {"strict", "blur", "off"}


async def test_refusals_become_moderator_notes_only_where_a_log_channel_is_set(
    queue: JobQueue,
) -> None:
    desk = FrontDesk(queue)
    log = ModLog(queue.redis, keys=queue.keys)
    await desk.handle("/atelier settings key:moderation_words value:gloom", at(1), admin=True)
    await desk.handle("/poem deep gloom", at(2))
    assert await log.take("discord") == []  # no channel set: nothing is kept

    await desk.handle("/atelier settings key:moderation_log_channel value:#C55", at(3), admin=True)
    long = "/poem deep gloom " + "and more words " * 10
    await desk.handle(long, at(4, user="u9"))
    await desk.handle(long, at(4, user="u9"))  # the same delivery again: still one note
    await desk.handle("/image lolicon", at(5, user="u8"))
    await desk.handle("/poem the calm sea", at(6))  # admitted: no note
    await desk.handle("/poem gloom", at(7, guild="g2"))  # another server: no channel set
    notes = await log.take("discord")
    assert [channel for channel, _ in notes] == ["C55", "C55"]
    word, minors = (text for _, text in notes)
    assert word.startswith("Atelier refused a prompt: /poem by member-u9 (u9).")
    assert "moderation word 'gloom'" in word and "Excerpt: “deep gloom and more" in word
    assert len(word.split("Excerpt: ")[1]) <= 42  # clipped, never the whole prompt
    assert "/image by member-u8" in minors and "lolicon" not in minors
    assert await log.take("discord") == []  # taken once
    # The adapters' scheduler gets them with the other announcements.
    await desk.handle("/poem gloom again", at(8))
    [note] = await desk.community.announcements("discord")
    assert note.channel == "C55" and "moderation word 'gloom'" in note.text
