"""Redis connections: a real server from ATELIER_REDIS_URL, or the embedded in-process store."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.config import Settings
from bot.errors import ConfigError
from bot.keys import Keys
from bot.queue import JobQueue


def connect(settings: Settings, *, embedded_ok: bool, what: str = "this command") -> Redis:
    """A client for the configured server. Without ATELIER_REDIS_URL, `atelier up` runs on an
    in-process Redis-compatible store (fakeredis): same API, streams and Lua included, but
    nothing outlives the process and no other process can join."""
    if settings.redis_url is not None:
        # A restarting server (a deploy, a failover) is waited out: each command is retried
        # with exponential backoff (0.1 s doubling to 5 s, about a minute in all) before the
        # caller's loop sees the error and, in turn, tries again. rediss:// URLs get TLS and
        # a password in the URL is used; neither is ever logged.
        client: Redis = Redis.from_url(
            settings.redis_url.get_secret_value(),
            decode_responses=True,
            health_check_interval=30,
            socket_connect_timeout=5,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=5.0, base=0.1), retries=15),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        return client
    if not embedded_ok:
        raise ConfigError(
            f"{what} needs a Redis server shared with the other processes: set "
            "ATELIER_REDIS_URL (for example redis://127.0.0.1:6379/0), or run everything in "
            "one process with `atelier up`."
        )
    import fakeredis

    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)


def make_queue(redis: Redis, settings: Settings) -> JobQueue:
    return JobQueue(
        redis,
        keys=Keys(settings.redis_prefix),
        job_ttl_s=settings.job_ttl_s,
        max_queue_length=settings.max_queue_length,
        visibility_timeout_s=settings.visibility_timeout_s,
    )
