"""tests/support/redis_clients.py on a real Redis Cluster: the blocking client finds and
clears a prefix's keys on every master, in every spelling, and leaves its neighbours' alone
(the adapter suites clean up with it, and count their jobs with it)."""

from __future__ import annotations

import uuid

from bot.keys import Keys
from tests.support.redis_clients import clear, job_keys, key_prefix, keys_under, sync_client
from tests.support.redis_cluster import RedisCluster


def test_clear_finds_every_group_on_every_master_and_only_the_prefix(
    redis_server: str, redis_cluster: RedisCluster
) -> None:
    keys = Keys(key_prefix(redis_server, f"atelier-clients-{uuid.uuid4().hex[:8]}:"))
    neighbour = Keys(keys.prefix.replace("}:", "x}:"))
    assert keys.prefix.startswith("{") and neighbour.prefix != keys.prefix
    # Each group's slot: the queue's, a job's files, a server's, workers, and a key alone.
    written = [
        keys.job("j1"),
        keys.job("j2"),
        keys.artifact("j1", 0),
        keys.settings("slack", "T1"),
        keys.worker("w1"),
        keys.once("slack", "d1"),
    ]
    assert len({redis_cluster.master_of(key) for key in written}) >= 2  # spread over masters
    client = sync_client(redis_server)
    try:
        for key in written:
            client.set(key, "1", ex=60)
        client.set(neighbour.job("j1"), "1", ex=60)
        client.set(neighbour.once("slack", "d1"), "1", ex=60)

        assert sorted(keys_under(client, keys)) == sorted(written)
        assert sorted(job_keys(client, keys)) == sorted([keys.job("j1"), keys.job("j2")])
        clear(client, keys)
        assert list(keys_under(client, keys)) == []
        assert client.exists(neighbour.job("j1"), neighbour.once("slack", "d1")) == 2
    finally:
        clear(client, neighbour)
        client.close()
