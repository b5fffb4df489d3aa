"""Redis outages: which errors mean "the server does not answer" (wait and try again), and a
log that says so in one line per period instead of a traceback per attempt."""

from __future__ import annotations

import logging
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

LOG_EVERY_S = 10.0  # while Redis is down, one line per this many seconds per loop


def is_down(exc: BaseException) -> bool:
    """A refused, reset or timed-out connection (a restart, a failover): worth retrying."""
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError))


def reason(exc: BaseException) -> str:
    """The error's first line, short (redis-py names host and port, never the password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:159] + "…"


class Outage:
    """One loop's view of Redis: while it is down, a warning every `every_s` seconds (no
    traceback); a line when it answers again. Any other error is logged with its traceback."""

    def __init__(self, logger: logging.Logger, what: str, *, every_s: float = LOG_EVERY_S):
        self.log = logger
        self.what = what
        self.every_s = every_s
        self.since: float | None = None
        self._last = 0.0

    def failed(self, exc: BaseException, message: str, *, level: int = logging.ERROR) -> None:
        if not is_down(exc):
            self.log.log(level, message, exc_info=exc)
            return
        now = time.monotonic()
        if self.since is None or now - self._last >= self.every_s:
            self.log.warning(
                "%s: Redis does not answer (%s); retrying every second (one line per %.0f s)",
                self.what,
                reason(exc),
                self.every_s,
            )
            self._last = now
        if self.since is None:
            self.since = now

    def ok(self) -> None:
        if self.since is not None:
            self.log.info(
                "%s: Redis answers again after %.0f s", self.what, time.monotonic() - self.since
            )
            self.since = None
