"""The Slack adapter's HTTP edge (HTTP mode): Bolt's request handling behind two guards
that Bolt's own aiohttp server lacks.

- A request whose `X-Slack-Request-Timestamp` is not a number is answered 401, as Bolt
  answers any request it cannot verify (Bolt itself raised on `int()` and answered 500).
- A request body must arrive within `ATELIER_SLACK_BODY_TIMEOUT` (10 s): later, the request
  is answered 408 and its connection closed. A body not in within `GRACE_S` counts as slow,
  and at most `ATELIER_SLACK_MAX_SLOW_BODIES` slow ones are waited for at once; one more is
  answered 503 at once. Slack's own requests are a few kilobytes sent in one go, so they
  never count as slow, and a flood of slow senders (slowloris) cannot hold the port.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

GRACE_S = 1.0  # a body still arriving after this long is a slow one
TIMESTAMP = "X-Slack-Request-Timestamp"
INVALID = '{"error": "invalid request"}'  # Bolt's answer to a request it cannot verify
TOO_SLOW = '{"error": "request body not received in time"}'
TOO_MANY = '{"error": "too many slow requests; try again"}'


class SlowBodies(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status, self.body = status, body


class BodyGuard:
    """Reads request bodies within a deadline, with a cap on slow ones waited for at once."""

    def __init__(self, timeout_s: float, max_slow: int) -> None:
        self.timeout_s = timeout_s
        self.max_slow = max_slow
        self.slow = 0  # slow bodies being waited for now

    async def read(self, request: web.Request) -> bytes:
        if request.content.is_eof():  # the usual case: the body came with the headers
            return await request.read()
        reading = asyncio.ensure_future(request.read())
        try:
            grace = min(GRACE_S, self.timeout_s)
            await asyncio.wait({reading}, timeout=grace)
            if reading.done():
                return reading.result()
            if self.slow >= self.max_slow:
                raise SlowBodies(503, TOO_MANY)
            self.slow += 1
            try:
                await asyncio.wait({reading}, timeout=self.timeout_s - grace)
            finally:
                self.slow -= 1
            if not reading.done():
                raise SlowBodies(408, TOO_SLOW)
            return reading.result()
        finally:
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading


def web_app(app: AsyncApp, path: str, guard: BodyGuard) -> web.Application:
    """The aiohttp application serving Bolt at `path`, behind the timestamp and body guards."""

    async def events(request: web.Request) -> web.Response:
        if not _numeric(request.headers.get(TIMESTAMP)):
            return web.Response(status=401, text=INVALID, content_type="application/json")
        try:
            await guard.read(request)  # kept by aiohttp: Bolt's read below gets it
        except SlowBodies as exc:
            response = web.Response(
                status=exc.status, text=exc.body, content_type="application/json"
            )
            response.force_close()
            return response
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    web_application = web.Application()
    web_application.add_routes([web.post(path, events)])
    return web_application


def _numeric(value: str | None) -> bool:
    try:
        int(value or "")
    except ValueError:
        return False
    return True
