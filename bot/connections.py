"""Redis connections: a real server from ATELIER_REDIS_URL, or the embedded in-process store."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.config import Settings
from bot.errors import ConfigError
from bot.keys import Keys
from bot.queue.streams import JobQueue

log = logging.getLogger(__name__)


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


async def check_redis(redis: Redis, settings: Settings) -> None:
    """Fail at start, in words, when the server refuses our credentials or its certificate
    is not trusted: retrying would not help. A server that is down is not an error here; the
    process starts and reconnects with backoff. Messages name the host, never the URL."""
    if settings.redis_url is None:
        return
    where = _where(settings.redis_url.get_secret_value())
    try:
        await redis.ping()
    except AuthenticationError:
        raise ConfigError(
            f"Redis at {where} refused the password in ATELIER_REDIS_URL: check the "
            "`:password@` part of the URL (or `user:password@` with ACL users)."
        ) from None
    except ResponseError as exc:
        if "NOAUTH" not in str(exc):
            raise
        raise ConfigError(
            f"Redis at {where} needs a password: put it in ATELIER_REDIS_URL as "
            "redis://:PASSWORD@host:port/0 (or rediss:// for TLS)."
        ) from None
    except RedisConnectionError as exc:
        text = str(exc)
        if "SSL" in text or "CERTIFICATE" in text.upper() or "wrong version number" in text:
            raise ConfigError(
                f"TLS to Redis at {where} failed ({_ssl_reason(text)}): use rediss:// for a TLS "
                "port, redis:// otherwise, and add ?ssl_ca_certs=/path/to/ca.pem to "
                "ATELIER_REDIS_URL when the server's certificate is signed by your own CA."
            ) from None
        log.warning("Redis at %s does not answer yet; retrying in the background", where)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _ssl_reason(text: str) -> str:
    start = text.find("[SSL")
    return text[start:].split("]", 1)[0] + "]" if start >= 0 else "TLS handshake failed"
