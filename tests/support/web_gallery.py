"""A server's gallery made the way the bot makes it, for the web gallery's tests: pieces from
real jobs through the front desk (a poem, its remix, an image with a file), and a challenge
taken through its phases with real votes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.community.challenges import Challenge, ChallengeStore, Entry
from bot.community.gallery import GalleryStore
from bot.desk.front_desk import FrontDesk
from bot.jobs import Attachment, Job, Origin, Provenance, Result
from bot.queue import artifacts
from bot.queue.streams import JobQueue
from bot.replies import Action

PLATFORM, SERVER = "discord", "881234567890123456"
ALICE_ID, BOB_ID = "301234567890123456", "401234567890123456"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def origin(n: int, user_id: str = ALICE_ID, name: str = "Alice") -> Origin:
    return Origin(
        platform=PLATFORM,
        route=PLATFORM,
        channel_id="ch",
        user_id=user_id,
        user_name=name,
        guild_id=SERVER,
        delivery_id=f"d{n}",
    )


def result(job: Job, text: str, at: float, files: tuple[Attachment, ...] = ()) -> Result:
    settings = {"form": "haiku", "sources": "Keats; Shelley"} if job.command == "poem" else {}
    return Result(
        job_id=job.id,
        ok=True,
        command=job.command,
        prompt=job.prompt,
        text=text,
        provenance=Provenance(model="org/poet", generator="t", seed=job.seed, settings=settings),
        attachments=files,
        origin=job.origin,
        finished_at=at,
    )


@dataclass
class Made:
    poem: Job
    remix: Job
    image: Job
    challenge: Challenge


async def make_gallery(queue: JobQueue, *, now: float | None = None) -> Made:
    """A poem by Alice, Bob's remix of it, Alice's image with its file; a challenge that
    Alice and Bob entered (still open for entries)."""
    now = time.time() if now is None else now
    desk = FrontDesk(queue)
    gallery = GalleryStore(queue.redis, keys=queue.keys)
    first = await desk.handle("/poem the harbour at dawn seed:4", origin(1))
    poem = await desk.stored_job(first.job_id or "")
    assert poem is not None
    await gallery.record(result(poem, "gulls over grey water\nthe nets come in", now - 30))
    [again] = await desk.follow_up(
        Action.REMIX, poem.id, origin(2, BOB_ID, "Bob"), text="the harbour at night"
    )
    remix = await desk.stored_job(again.job_id or "")
    assert remix is not None
    await gallery.record(result(remix, "lanterns on black water", now - 20))
    third = await desk.handle("/image a lighthouse in fog seed:9", origin(3))
    image = await desk.stored_job(third.job_id or "")
    assert image is not None
    files = await artifacts.store(
        queue.redis,
        queue.keys,
        image.id,
        [("lighthouse.png", "image/png", PNG, "A lighthouse in fog")],
        ttl_s=600,
    )
    await gallery.record(result(image, "", now - 10, files))
    challenges = ChallengeStore(queue.redis, keys=queue.keys)
    challenge = await challenges.open(
        Challenge(
            id="ch-tides",
            platform=PLATFORM,
            server=SERVER,
            channel="ch",
            theme="Tides",
            owner=ALICE_ID,
            opened_at=now,
            voting_at=now + 3600,
            ends_at=now + 7200,
        )
    )
    await challenges.submit(
        challenge, Entry(0, ALICE_ID, "Alice", "ai-generated", "poem", job_id=poem.id)
    )
    await challenges.submit(challenge, Entry(0, BOB_ID, "Bob", "human", "poem", text="salt wind"))
    return Made(poem, remix, image, challenge)


async def to_voting(queue: JobQueue, made: Made) -> None:
    store = ChallengeStore(queue.redis, keys=queue.keys)
    await store.advance(made.challenge.id, now=made.challenge.voting_at)
    voting = await store.get(made.challenge.id)
    assert voting is not None
    await store.vote(voting, 2, ALICE_ID, now=made.challenge.voting_at + 1)
    await store.vote(voting, 2, "501234567890123456", now=made.challenge.voting_at + 1)
    await store.vote(voting, 1, BOB_ID, now=made.challenge.voting_at + 1)


async def to_closed(queue: JobQueue, made: Made) -> None:
    store = ChallengeStore(queue.redis, keys=queue.keys)
    await store.advance(made.challenge.id, now=made.challenge.ends_at)
