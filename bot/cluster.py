"""Redis Cluster: redis-py's own cluster client, with MULTI/EXEC routed to the key's master.

Every Atelier key of one prefix carries the same hash tag (`{atelier}:` for the default
prefix, see `tagged_prefix`), so all of them live in one hash slot: the Lua scripts and
transactions that touch a job, its server's fairness line, its stream and its results
together run on a cluster unchanged, and the cluster adds replicas and automatic failover.
redis-py 5's asyncio cluster pipeline refuses transactions, so `pipeline(transaction=True)`
(and EVALSHA in a pipeline) is answered by a plain pipeline on the master that owns that
slot, found again after a failover."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_TAG = re.compile(r"\{[^{}]+\}")


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """redis+cluster://host:port -> redis://host:port, the seed node redis-py starts from."""
    scheme, rest = url.split("://", 1)
    return f"{CLUSTER_SCHEMES.get(scheme.lower(), scheme)}://{rest}"


def tagged_prefix(prefix: str) -> str:
    """The prefix with a hash tag, so every key under it hashes to one slot: `atelier:` ->
    `{atelier}:`. A prefix that already holds a tag is kept as written."""
    if _TAG.search(prefix):
        return prefix
    body = prefix.rstrip(":")
    return f"{{{body}}}{prefix[len(body) :]}"


class AtelierCluster(RedisCluster):
    """RedisCluster whose transactions run on the master of the prefix's slot."""

    def __init__(self, *args: Any, slot_key: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot_key = slot_key
        self._masters: dict[str, Redis] = {}

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        """Every pipeline runs on the slot's master (all of a prefix's keys live there):
        redis-py's cluster pipeline has neither MULTI/EXEC nor EVALSHA."""
        return _SlotPipeline(self, transaction=bool(transaction))

    async def master(self) -> Redis:
        if not self.nodes_manager.slots_cache:
            await self.initialize()
        node = self.get_node_from_key(self.slot_key)
        if node is None:  # pragma: no cover (get_node_from_key raises instead)
            raise RedisConnectionError("no master for the key slot")
        client = self._masters.get(node.name)
        if client is None:
            pool = ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
            client = Redis.from_pool(pool)  # closes the pool with the client
            self._masters[node.name] = client
        return client

    async def moved(self) -> None:
        """The slot's master changed or died: read the topology again."""
        self.nodes_manager.slots_cache.clear()
        await self.nodes_manager.initialize()

    async def aclose(self) -> None:
        for client in self._masters.values():
            await client.aclose()
        self._masters.clear()
        await super().aclose()


_MOVED = (RedisConnectionError, RedisTimeoutError)
FAILOVER_TRIES = 20
FAILOVER_WAIT_S = 0.5  # 20 tries: 10 s, past a node timeout of a few seconds


class _SlotPipeline:
    """`async with cluster.pipeline(...) as pipe`: a plain pipeline (MULTI/EXEC and WATCH
    included when asked for a transaction) on the slot's master, made when first used. A
    dropped connection or a MOVED reply refreshes the topology and is raised as a
    ConnectionError, which the callers' loops already retry."""

    def __init__(self, cluster: AtelierCluster, *, transaction: bool) -> None:
        self._cluster = cluster
        self._transaction = transaction
        self._pipe: Pipeline | None = None
        self._queued: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def __aenter__(self) -> _SlotPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pipe is not None:
            await self._pipe.reset()  # type: ignore[no-untyped-call]

    async def _open(self) -> Pipeline:
        if self._pipe is None:
            try:
                client = await self._cluster.master()
            except _MOVED:
                await self._cluster.moved()
                raise
            self._pipe = client.pipeline(transaction=self._transaction)
        return self._pipe

    async def _guard(self, call: Any) -> Any:
        try:
            return await call
        except _MOVED:
            await self._cluster.moved()
            raise
        except ResponseError as exc:
            if str(exc).startswith(("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN")):
                await self._cluster.moved()
                raise RedisConnectionError(f"cluster slot moved ({exc})") from None
            raise

    async def watch(self, *names: Any) -> Any:
        pipe = await self._open()
        return await self._guard(pipe.watch(*names))

    def multi(self) -> None:
        if self._pipe is None:
            return  # nothing watched: MULTI is implied when the queued commands run
        self._pipe.multi()  # type: ignore[no-untyped-call]

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Run the queued commands. Nothing watched: a failover is waited out (the topology
        read again, up to FAILOVER_TRIES times), as a single server's client retries a
        command; with a WATCH the caller's own loop decides."""
        for attempt in range(FAILOVER_TRIES):
            try:
                pipe = await self._open()
                for name, args, kwargs in self._queued:
                    getattr(pipe, name)(*args, **kwargs)
                replies = await self._guard(pipe.execute(raise_on_error=raise_on_error))
                self._queued.clear()
                return list(replies)
            except _MOVED:
                if self._pipe is not None and self._pipe.watching:
                    raise
                if attempt == FAILOVER_TRIES - 1:
                    raise
                if self._pipe is not None:
                    await self._pipe.reset()  # type: ignore[no-untyped-call]
                    self._pipe = None
                await asyncio.sleep(FAILOVER_WAIT_S)
        raise AssertionError("unreachable")  # pragma: no cover

    def __getattr__(self, name: str) -> Any:
        def command(*args: Any, **kwargs: Any) -> Any:
            pipe = self._pipe
            if pipe is not None and pipe.explicit_transaction is False and pipe.watching:
                return self._guard(getattr(pipe, name)(*args, **kwargs))  # immediate read
            if pipe is not None:
                getattr(pipe, name)(*args, **kwargs)
                return self
            self._queued.append((name, args, kwargs))
            return self

        return command
