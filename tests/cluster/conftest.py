"""The cluster tests: the same fixtures as tests/conftest.py (`redis_server`, `redis_client`,
`prefix`), but on a real 3-master Redis Cluster with replicas started for the session, the
client made by `bot.connections.connect` and the prefix hash-tagged as production tags it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.cluster import tagged_prefix
from bot.config import load_settings
from bot.connections import connect
from tests.support.redis_cluster import RedisCluster, cluster_support


def _started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    missing = cluster_support()
    if missing:
        # The test command installs redis-server (with redis-cli); say so loudly, as for espeak-ng.
        pytest.fail(f"no Redis Cluster can start here: {missing}", pytrace=False)
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """The cluster the tests share (none of them stops a node of it)."""
    yield from _started(tmp_path_factory)


@pytest.fixture
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A cluster of the test's own, for a test that kills one of its nodes."""
    yield from _started(tmp_path_factory)


@pytest.fixture(scope="session")
def redis_server(redis_cluster: RedisCluster) -> str:
    return redis_cluster.url


@pytest.fixture
def prefix() -> str:
    return tagged_prefix(f"atelier-test-{uuid.uuid4().hex[:8]}:")


@pytest.fixture
async def redis_client(redis_server: str, prefix: str) -> AsyncIterator[Redis]:
    settings = load_settings(redis_url=SecretStr(redis_server), redis_prefix=prefix)
    client = connect(settings, embedded_ok=False)
    try:
        yield client
    finally:
        await client.aclose()
