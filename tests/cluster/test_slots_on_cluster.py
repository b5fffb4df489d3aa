"""The key layout on a real Redis Cluster: the groups spread over the masters, a
transaction that names two slots is refused by name (never sent, never retried), and a
plain pipeline over several masters answers in order."""

from __future__ import annotations

import base64

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.cluster import CrossSlotError
from bot.community.gallery import GalleryStore
from bot.jobs import Attachment, Origin, Provenance, Result
from bot.keys import Keys
from tests.support.redis_cluster import RedisCluster

SERVER = "g-slots"


def _result(keys: Keys, job_id: str) -> Result:
    origin = Origin(
        platform="discord",
        route="discord",
        channel_id="ch",
        user_id="u1",
        user_name="Ada",
        guild_id=SERVER,
        delivery_id=f"d-{job_id}",
    )
    return Result(
        job_id=job_id,
        ok=True,
        command="image",
        prompt="a lighthouse",
        origin=origin,
        provenance=Provenance(model="tiny-sd", generator="diffusers", seed=3),
        attachments=(
            Attachment(
                filename="a.png", content_type="image/png", size=3, key=keys.artifact(job_id, 0)
            ),
        ),
    )


async def test_a_piece_and_its_file_live_on_the_masters_of_their_own_slots(
    redis_client: Redis, redis_cluster: RedisCluster, prefix: str
) -> None:
    keys = Keys(prefix)
    gallery_master = redis_cluster.master_of(keys.gallery("discord", SERVER))
    # A job whose files hash to another master than the server's gallery (about two in
    # three do; the first of them is taken, so the test is the same on every run).
    job_id = next(
        f"job-{n:04d}"
        for n in range(100)
        if redis_cluster.master_of(keys.artifact(f"job-{n:04d}", 0)) != gallery_master
    )
    file_master = redis_cluster.master_of(keys.artifact(job_id, 0))
    await redis_client.set(keys.artifact(job_id, 0), base64.b64encode(b"png").decode(), ex=60)
    piece = await GalleryStore(redis_client, keys=keys).record(_result(keys, job_id))
    assert piece is not None and piece.files == ["a.png"]
    # Each key is on its own master (asked directly: a node answers only for its slots).
    on_gallery = redis_cluster.client(gallery_master)
    on_files = redis_cluster.client(file_master)
    assert (
        on_gallery.exists(
            keys.gallery("discord", SERVER), keys.gallery_item("discord", SERVER, job_id)
        )
        == 2
    )
    assert on_files.exists(keys.artifact(job_id, 0)) == 1
    assert on_files.ttl(keys.artifact(job_id, 0)) == -1  # kept as long as its piece
    # Deleting the piece drops its file too, across the two masters.
    store = GalleryStore(redis_client, keys=keys)
    await store.delete("discord", SERVER, job_id[:8], "u1", admin=False)
    assert on_gallery.exists(keys.gallery_item("discord", SERVER, job_id)) == 0
    assert on_files.exists(keys.artifact(job_id, 0)) == 0


async def test_a_transaction_over_two_slots_is_refused_by_name_before_anything_is_sent(
    redis_client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    queue_key, server_key = keys.job("j1"), keys.settings("discord", SERVER)
    with pytest.raises(CrossSlotError, match="2 hash slots") as refused:
        async with redis_client.pipeline(transaction=True) as pipe:
            pipe.set(queue_key, "1")
            pipe.set(server_key, "1")
            await pipe.execute()
    assert queue_key in str(refused.value) and server_key in str(refused.value)
    assert await redis_client.exists(queue_key, server_key) == 0  # nothing was written
    # A WATCH in one slot refuses a read of another before its MULTI.
    async with redis_client.pipeline(transaction=True) as pipe:
        await pipe.watch(keys.challenge("c1"))
        with pytest.raises(CrossSlotError, match="watched"):
            await pipe.get(queue_key)


async def test_a_plain_pipeline_over_several_masters_answers_in_order(
    redis_client: Redis, redis_cluster: RedisCluster, prefix: str
) -> None:
    keys = Keys(prefix)
    names = [keys.artifact(f"j{n}", 0) for n in range(40)] + [keys.job("j"), keys.challenge("c")]
    assert len({redis_cluster.master_of(n) for n in names}) == 3  # every master has a part
    async with redis_client.pipeline(transaction=False) as pipe:
        for n, name in enumerate(names):
            pipe.set(name, str(n), ex=60)
            pipe.get(name)
        replies = await pipe.execute()
    assert replies == [x for n in range(len(names)) for x in (True, str(n))]
    assert await redis_client.delete(*names) == len(names)
    # A failing command fails the call only after every master ran its part, as on one server.
    async with redis_client.pipeline(transaction=False) as pipe:
        pipe.set(names[0], "text")
        pipe.incr(names[0])  # not a number
        pipe.set(names[-1], "kept")
        with pytest.raises(ResponseError, match="not an integer"):
            await pipe.execute()
    assert await redis_client.get(names[-1]) == "kept"
    await redis_client.delete(names[0], names[-1])
