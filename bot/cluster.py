"""Redis Cluster: redis-py's own cluster client, with pipelines and MULTI/EXEC routed by slot.

`bot.keys.Keys` puts each group of keys that a Lua script or a transaction touches together
in one hash slot (the queue's keys in the prefix's, `{atelier}:`; a server's gallery,
settings and styles in `{atelier:server:...}`; challenges and their outbox in
`{atelier:challenges}`; a job's files in `{atelier:job:...}`; keys only ever used alone
under no tag at all), so the scripts and transactions run on a cluster unchanged and the
groups spread over the masters. redis-py 5's asyncio cluster pipeline has neither MULTI/EXEC
nor EVALSHA, so `pipeline()` is answered here: a transaction (or a WATCH) runs as a plain
pipeline on the master of its keys' slot, and refuses keys of two slots in one go, by
name, instead of letting Redis answer CROSSSLOT mid-transaction; a plain pipeline is split
by master, each part run there, the replies put back in order."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError
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
    """RedisCluster whose pipelines and transactions run on the masters of their keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._masters: dict[str, Redis] = {}

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        return _SlotPipeline(self, transaction=bool(transaction))

    async def slot_of(self, args: tuple[Any, ...]) -> int:
        """The hash slot of one command's keys (`args` as sent: the name first)."""
        if not self.nodes_manager.slots_cache:
            await self.initialize()
        return await self._determine_slot(*args)

    async def master_of(self, slot: int) -> Redis:
        """A plain client on the master that owns `slot` now."""
        if not self.nodes_manager.slots_cache:
            await self.initialize()
        node = self.nodes_manager.get_node_from_slot(slot)
        client = self._masters.get(node.name)
        if client is None:
            pool = ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
            client = Redis.from_pool(pool)  # closes the pool with the client
            self._masters[node.name] = client
        return client

    async def moved(self) -> None:
        """A slot's master changed or died: read the topology again."""
        self.nodes_manager.slots_cache.clear()
        await self.nodes_manager.initialize()

    async def aclose(self) -> None:
        """Also called by redis-py itself to start afresh after a connection error, while
        other commands may be opening master clients: take the set before closing it."""
        masters, self._masters = self._masters, {}
        for client in masters.values():
            await client.aclose()
        await super().aclose()


_MOVED = (RedisConnectionError, RedisTimeoutError)
FAILOVER_TRIES = 20
FAILOVER_WAIT_S = 0.5  # 20 tries: 10 s, past a node timeout of a few seconds
_Stack = list[tuple[tuple[Any, ...], Any]]


class CrossSlotError(RedisClusterException):
    """One transaction named keys of two hash slots: a key layout bug, never retried."""


def _name(args: tuple[Any, ...]) -> str:
    keys = [str(a) for a in args[1:3]]
    return " ".join([str(args[0]), *keys])


class _SlotPipeline:
    """`async with cluster.pipeline(...) as pipe`. Commands are recorded (on a pipeline that
    never connects) and sent at `execute`: a transaction to the master of its one slot, a
    plain pipeline split by master. After a WATCH, reads run at once on the watched slot's
    master, and MULTI/EXEC follow there. A dropped connection or a MOVED reply re-reads the
    topology and is raised as a ConnectionError, which the callers' loops already retry;
    with nothing watched, a failover is waited out first."""

    def __init__(self, cluster: AtelierCluster, *, transaction: bool) -> None:
        self._cluster = cluster
        self._transaction = transaction
        self._recorder = Pipeline(ConnectionPool(), {}, False, None)  # type: ignore[no-untyped-call]
        self._watched: tuple[int, Pipeline] | None = None

    async def __aenter__(self) -> _SlotPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.reset()

    async def reset(self) -> None:
        self._recorder.command_stack = []
        if self._watched is not None:
            await self._watched[1].reset()  # type: ignore[no-untyped-call]
            self._watched = None

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

    async def _one_slot(self, stack: _Stack, why: str) -> int:
        slots = {await self._cluster.slot_of(args) for args, _ in stack}
        if len(slots) != 1:
            names = ", ".join(_name(args) for args, _ in stack)
            raise CrossSlotError(f"{why} names keys of {len(slots)} hash slots: {names}")
        return slots.pop()

    async def watch(self, *names: Any) -> Any:
        slot = await self._one_slot([(("WATCH", *names), {})], "a WATCH")
        if self._watched is not None:  # more keys watched: they must share the first's slot
            if slot != self._watched[0]:
                raise CrossSlotError("a WATCH outside the watched keys' hash slot")
            return await self._guard(self._watched[1].watch(*names))
        try:
            client = await self._cluster.master_of(slot)
        except _MOVED:
            await self._cluster.moved()
            raise
        pipe = client.pipeline(transaction=True)
        self._watched = (slot, pipe)
        return await self._guard(pipe.watch(*names))

    def multi(self) -> None:
        if self._watched is not None:
            self._watched[1].multi()  # type: ignore[no-untyped-call]
        # nothing watched: MULTI is implied when a transaction's commands run

    async def _read_now(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        assert self._watched is not None
        slot, pipe = self._watched
        getattr(self._recorder, name)(*args, **kwargs)
        sent, _ = self._recorder.command_stack.pop()
        if await self._cluster.slot_of(sent) != slot:
            raise CrossSlotError(f"{_name(sent)} is not in the watched keys' hash slot")
        return await self._guard(getattr(pipe, name)(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        def command(*args: Any, **kwargs: Any) -> Any:
            watched = self._watched
            if watched is not None and watched[1].watching and not watched[1].explicit_transaction:
                return self._read_now(name, args, kwargs)
            getattr(self._recorder, name)(*args, **kwargs)
            return self

        return command

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack: _Stack = list(self._recorder.command_stack)
        self._recorder.command_stack = []
        if self._watched is not None:  # the caller's loop decides what a failover means
            slot, pipe = self._watched
            if stack and await self._one_slot(stack, "a transaction") != slot:
                raise CrossSlotError("a transaction outside its watched keys' hash slot")
            for args, options in stack:
                pipe.execute_command(*args, **options)
            return list(await self._guard(pipe.execute(raise_on_error=raise_on_error)))
        if not stack:
            return []
        if self._transaction:
            slot = await self._one_slot(stack, "a transaction")
            return await self._run(slot, stack, True, raise_on_error)
        parts: dict[int, list[int]] = {}
        for n, (args, _) in enumerate(stack):
            parts.setdefault(await self._cluster.slot_of(args), []).append(n)
        replies: list[Any] = [None] * len(stack)
        for slot, where in parts.items():  # every part runs, as one server runs every command
            part = await self._run(slot, [stack[n] for n in where], False, False)
            for n, reply in zip(where, part, strict=True):
                replies[n] = reply
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    async def _run(
        self, slot: int, stack: _Stack, transaction: bool, raise_on_error: bool
    ) -> list[Any]:
        """`stack` on the slot's master; a failover waited out (the topology read again, up
        to FAILOVER_TRIES times), as a single server's client retries a command."""
        for attempt in range(FAILOVER_TRIES):
            try:
                client = await self._cluster.master_of(slot)
                async with client.pipeline(transaction=transaction) as pipe:
                    for args, options in stack:
                        pipe.execute_command(*args, **options)
                    return list(await self._guard(pipe.execute(raise_on_error=raise_on_error)))
            except _MOVED:
                if attempt == FAILOVER_TRIES - 1:
                    raise
                await self._cluster.moved()
                await asyncio.sleep(FAILOVER_WAIT_S)
        raise AssertionError("unreachable")  # pragma: no cover
