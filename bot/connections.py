"""Redis connections: a real server from ATELIER_REDIS_URL, or the embedded in-process store."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.cluster import AtelierCluster, is_cluster_url, plain_url, tagged_prefix
from bot.config import Settings
from bot.errors import ConfigError, RedisUnavailable
from bot.keys import Keys
from bot.outage import Outage, reason
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
        url = settings.redis_url.get_secret_value()
        check_url(url)
        try:
            if is_cluster_url(url):
                return _cluster(url, key_prefix(settings))
            client: Redis = Redis.from_url(
                url,
                decode_responses=True,
                health_check_interval=30,
                socket_connect_timeout=5,
                socket_keepalive=True,
                retry=Retry(ExponentialBackoff(cap=5.0, base=0.1), retries=15),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
            )
        except ValueError as exc:  # an option in the query string (redis-py names it)
            raise ConfigError(f"ATELIER_REDIS_URL: {exc}") from None
        return client
    if not embedded_ok:
        raise ConfigError(
            f"{what} needs a Redis server shared with the other processes: set "
            "ATELIER_REDIS_URL (for example redis://127.0.0.1:6379/0), or run everything in "
            "one process with `atelier up`."
        )
    import fakeredis

    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)


def _cluster(url: str, prefix: str) -> Redis:
    """redis+cluster://host:port (any one node; the others are found from it). A failover
    is waited out by redis-py's own retries (it reads the new topology) and, beyond those, by
    the callers' loops."""
    client = AtelierCluster.from_url(
        plain_url(url),
        decode_responses=True,
        socket_connect_timeout=2,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=6),
        cluster_error_retry_attempts=6,
    )
    return client  # type: ignore[return-value]  # the same command API as Redis


def key_prefix(settings: Settings) -> str:
    """ATELIER_REDIS_PREFIX, with a hash tag on a cluster so every key shares one slot."""
    url = settings.redis_url.get_secret_value() if settings.redis_url else ""
    return tagged_prefix(settings.redis_prefix) if is_cluster_url(url) else settings.redis_prefix


def make_queue(redis: Redis, settings: Settings) -> JobQueue:
    return JobQueue(
        redis,
        keys=Keys(key_prefix(settings)),
        job_ttl_s=settings.job_ttl_s,
        max_queue_length=settings.max_queue_length,
        visibility_timeout_s=settings.visibility_timeout_s,
    )


async def check_redis(settings: Settings) -> None:
    """Fail at start, in one line, when a setting cannot work: the server refuses our
    credentials, asks for a password we lack, or speaks TLS where the URL says plain (or the
    reverse), or its certificate is not trusted (ConfigError, exit 2). A server that does not
    answer is waited for, up to ATELIER_REDIS_RECONNECT (60 s), then RedisUnavailable (exit 1).
    Messages name the host, never the URL. The probe has no retries of its own."""
    if settings.redis_url is None:
        return
    url = settings.redis_url.get_secret_value()
    where = _where(url)
    window = settings.redis_reconnect_s
    probe: Redis = _probe(url)
    outage = Outage(log, f"waiting up to {window:.0f} s for Redis at {where}")
    deadline = time.monotonic() + window
    try:
        while True:
            try:
                await probe.ping()
                outage.ok()
                return
            except (RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
                await _refuse_settings(exc, url, where)
                if time.monotonic() >= deadline:
                    raise RedisUnavailable(
                        f"Redis at {where} did not answer for {window:.0f} s ({reason(exc)}): "
                        "check that it runs and that ATELIER_REDIS_URL names it "
                        "(ATELIER_REDIS_RECONNECT sets how long to wait)."
                    ) from None
                outage.failed(exc, "Redis check failed")
            await asyncio.sleep(1.0)
    finally:
        await probe.aclose()


def _probe(url: str) -> Redis:
    seed = plain_url(url) if is_cluster_url(url) else url  # a cluster's seed node
    probe: Redis = Redis.from_url(
        seed, decode_responses=True, socket_connect_timeout=5, socket_timeout=5
    )
    return probe


async def _refuse_settings(exc: Exception, url: str, where: str) -> None:
    """Raise ConfigError for an error that no amount of waiting fixes."""
    text = str(exc)
    if isinstance(exc, ResponseError) and "NOAUTH" not in text:
        raise exc
    if "NOAUTH" in text or "Authentication required" in text:
        raise ConfigError(
            f"Redis at {where} needs a password: put it in ATELIER_REDIS_URL as "
            "redis://:PASSWORD@host:port/0 (or rediss:// for TLS)."
        ) from None
    if isinstance(exc, AuthenticationError):
        raise ConfigError(
            f"Redis at {where} refused the password in ATELIER_REDIS_URL: check the "
            "`:password@` part of the URL (or `user:password@` with ACL users)."
        ) from None
    if "SSL" in text or "CERTIFICATE" in text.upper() or "wrong version number" in text:
        raise ConfigError(
            f"TLS to Redis at {where} failed ({_ssl_reason(text)}): use rediss:// for a TLS "
            "port, redis:// otherwise, and add ?ssl_ca_certs=/path/to/ca.pem to "
            "ATELIER_REDIS_URL when the server's certificate is signed by your own CA."
        ) from None
    tls = urlsplit(url).scheme.startswith("rediss")
    if await _speaks_the_other(url, tls=tls):
        said, speaks, use = ("rediss://", "plain Redis", "redis://")
        if not tls:
            said, speaks, use = ("redis://", "TLS", "rediss://")
        raise ConfigError(
            f"ATELIER_REDIS_URL says {said} but Redis at {where} speaks {speaks}: "
            f"use {use} for this port."
        )


async def _speaks_the_other(url: str, *, tls: bool) -> bool:
    """Whether the server answers in the protocol the URL did not ask for: plain Redis to a
    PING (for a rediss:// URL), or a TLS handshake (for a redis:// URL)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 6379
    if parts.scheme == "unix":
        return False
    context: ssl.SSLContext | None = None
    if not tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(2.0):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            try:
                if context is not None:
                    return True  # the handshake went through: the port speaks TLS
                writer.write(b"PING\r\n")
                await writer.drain()
                first = await reader.read(1)
                return first in (b"+", b"-")
            finally:
                writer.close()
    except (OSError, TimeoutError, ssl.SSLError):
        return False


def check_url(url: str) -> None:
    """A URL redis-py cannot use, said in words (the URL is not repeated: it may hold the
    password)."""
    parts = urlsplit(url)
    schemes = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
    if parts.scheme not in schemes or "://" not in url:
        shown = f"{parts.scheme}://" if parts.scheme and "://" in url else "no scheme"
        raise ConfigError(
            f"ATELIER_REDIS_URL must start with redis:// (rediss:// for TLS, unix:// for a "
            f"socket, redis+cluster:// for a Redis Cluster), it has {shown}: for example "
            "redis://127.0.0.1:6379/0."
        )
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ConfigError(
            "ATELIER_REDIS_URL has a port that is not a number from 1 to 65535: for example "
            "redis://127.0.0.1:6379/0."
        ) from None


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _ssl_reason(text: str) -> str:
    start = text.find("[SSL")
    return text[start:].split("]", 1)[0] + "]" if start >= 0 else "TLS handshake failed"
