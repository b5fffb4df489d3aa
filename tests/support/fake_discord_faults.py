"""Faults the loopback Discord (tests/support/fake_discord.py) can be told to make: 429s with
`retry_after` as Discord sends them, scripted errors, and requests that never answer."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tests.support.fake_discord import Call


@dataclass
class RateLimit:
    method: str
    pattern: re.Pattern[str]
    retry_after: float
    remaining: int  # how many more requests get a 429


@dataclass
class Hold:
    method: str
    pattern: re.Pattern[str]
    record: bool  # True: the request takes effect, only its answer never comes
    remaining: int
    containing: str = ""  # only requests whose message content says this
    caught: int = 0


class Faults:
    _limits: list[RateLimit]
    _failures: list[tuple[str, re.Pattern[str], int, int, list[int]]]
    _holds: list[Hold]

    def rate_limit(self, method: str, pattern: str, *, retry_after: float, count: int = 1) -> None:
        """The next `count` requests matching METHOD and the path regex get a 429."""
        self._limits.append(RateLimit(method, re.compile(pattern), retry_after, count))

    def fail(self, method: str, pattern: str, *, status: int, code: int, count: int = 1) -> None:
        """The next `count` requests matching METHOD and the path regex get this error."""
        self._failures.append((method, re.compile(pattern), status, code, [count]))

    def hold(
        self, method: str, pattern: str, *, record: bool, containing: str = "", count: int = 1
    ) -> Hold:
        """The next `count` matching requests never get an answer (the client waits until it
        dies); with `record` they take effect first, as if the answer was lost on the way."""
        held = Hold(method, re.compile(pattern), record, count, containing)
        self._holds.append(held)
        return held

    def _limited(self, method: str, path: str) -> web.Response | None:
        from tests.support.fake_discord import _json

        for limit in self._limits:
            if limit.remaining > 0 and limit.method == method and limit.pattern.search(path):
                limit.remaining -= 1
                return _json(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": limit.retry_after,
                        "global": False,
                    },
                    status=429,
                    headers={
                        "Retry-After": str(int(limit.retry_after + 0.999)),
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": str(limit.retry_after),
                        "X-RateLimit-Bucket": "fake-bucket",
                        "X-RateLimit-Scope": "user",
                        "Via": "1.1 google",
                    },
                )
        return None

    def _failing(self, method: str, path: str) -> web.Response | None:
        from tests.support.fake_discord import _error

        for want, pattern, status, code, left in self._failures:
            if left[0] > 0 and want == method and pattern.search(path):
                left[0] -= 1
                return _error(status, code, "Scripted failure")
        return None

    def _hold_for(self, call: Call) -> Hold | None:
        content = str(call.json.get("content") or "") if isinstance(call.json, dict) else ""
        for held in self._holds:
            if (
                held.remaining > 0
                and held.method == call.method
                and held.pattern.search(call.path)
                and held.containing in content
            ):
                held.remaining -= 1
                held.caught += 1
                return held
        return None


async def hang() -> None:
    """A request that is never answered (cancelled when the client goes or the fake stops)."""
    await asyncio.Event().wait()
