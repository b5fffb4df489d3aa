"""Clients, prefixes and key scans for tests that run on one Redis server and again, unchanged,
on a Redis Cluster (a `redis+cluster://` URL, tests/cluster/). The split is the one the
processes make through `bot.connections`: a cluster gets redis-py's cluster client and a
hash-tagged prefix (`bot.connections.key_prefix`), so a test's `Keys` name the keys the
processes write; one server gets the plain client and the prefix as written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import redis
from pydantic import SecretStr
from redis.asyncio import Redis as AsyncRedis
from redis.cluster import RedisCluster

from bot.cluster import is_cluster_url, plain_url, tagged_prefix
from bot.config import load_settings
from bot.connections import connect
from bot.keys import Keys


def key_prefix(url: str, prefix: str) -> str:
    """The prefix the processes use on `url`: hash-tagged on a cluster."""
    return tagged_prefix(prefix) if is_cluster_url(url) else prefix


def sync_client(url: str) -> redis.Redis:
    """A blocking client: on a cluster, redis-py's, which routes each key to its master."""
    if is_cluster_url(url):
        cluster = RedisCluster.from_url(plain_url(url), decode_responses=True)
        return cast(redis.Redis, cluster)  # the same single-key command API
    return redis.Redis.from_url(url, decode_responses=True)


def async_client(url: str) -> AsyncRedis:
    """An asyncio client: on a cluster, Atelier's own (`bot.connections.connect`), whose
    pipelines and transactions run on the master of their keys' slot, as the queue needs."""
    if is_cluster_url(url):
        return connect(load_settings(redis_url=SecretStr(url)), embedded_ok=False)
    return cast(AsyncRedis, AsyncRedis.from_url(url, decode_responses=True))


def keys_under(client: redis.Redis, keys: Keys) -> Iterator[str]:
    """Every key under `keys.prefix`, in any of its spellings (on a cluster: on every master)."""
    seen: set[str] = set()
    for pattern in keys.scan_patterns():
        for key in client.scan_iter(match=pattern):
            if key not in seen:
                seen.add(key)
                yield key


def job_keys(client: redis.Redis, keys: Keys) -> Iterator[str]:
    """The `job:{id}` hashes under `keys.prefix`."""
    yield from client.scan_iter(match=keys.job("*"))


def clear(client: redis.Redis, keys: Keys) -> None:
    """Delete every key under `keys.prefix` (one by one: on a cluster they span slots)."""
    for key in list(keys_under(client, keys)):
        client.delete(key)
