"""`/healthz`, `/readyz` and `/metrics` for every long-running process, on
ATELIER_METRICS_PORT (default 9108; 0 turns the server off).

- `/healthz`: 200 while the process's event loop answers (liveness: restart the process when
  this fails). Generation and model loading run in threads, so a busy worker still answers.
- `/readyz`: 200 when Redis answers and the process is ready for work: the worker has loaded
  its models, an adapter is connected to its platform. Otherwise 503, with one reason per
  line (readiness: send no traffic).
- `/metrics`: Prometheus text format (`bot.metrics`).

A tiny HTTP/1.1 server on asyncio streams, so it runs in every process (workers included)
without a web framework; every answer closes its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from bot.config import Settings
from bot.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)
DEFAULT_PORT = 9108
REDIS_TIMEOUT_S = 2.0
END_OF_HEADERS = (b"\r\n", b"\n", b"")
# A check returns None when all is well, else a reason an operator can act on.
Check = Callable[[], Awaitable[str | None] | str | None]


class Health:
    def __init__(self, queue: Any, metrics: Metrics | None = None) -> None:
        self.queue = queue
        self.metrics = metrics or Metrics()
        self._ready: list[Check] = []

    def ready_when(self, check: Check) -> None:
        self._ready.append(check)

    async def not_ready(self) -> list[str]:
        """Why the process should get no work now: empty when it is ready."""
        reasons = [await self._redis(), *[await _run(check) for check in self._ready]]
        return [r for r in reasons if r]

    async def _redis(self) -> str | None:
        try:
            await asyncio.wait_for(self.queue.redis.ping(), REDIS_TIMEOUT_S)
        except Exception as exc:
            return f"Redis does not answer ({type(exc).__name__}): check ATELIER_REDIS_URL"
        return None

    async def answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `path`."""
        if path == "/healthz":  # answering at all shows the event loop is alive
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if path == "/readyz":
            reasons = await self.not_ready()
            body = "\n".join(reasons) if reasons else "ok"
            return (503 if reasons else 200), "text/plain; charset=utf-8", (body + "\n").encode()
        if path == "/metrics":
            await self.metrics.refresh(self.queue)
            return 200, CONTENT_TYPE, self.metrics.render()
        return 404, "text/plain; charset=utf-8", b"not found: try /healthz, /readyz, /metrics\n"


async def _run(check: Check) -> str | None:
    try:
        outcome = check()
        if asyncio.iscoroutine(outcome) or isinstance(outcome, asyncio.Future):
            outcome = await outcome
    except Exception as exc:
        return f"check failed: {type(exc).__name__}"
    return outcome if isinstance(outcome, str) else None


class HealthServer:
    def __init__(self, health: Health, *, host: str, port: int) -> None:
        self.health = health
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> HealthServer:
        """Listen, unless the port is 0. A port already taken is logged, not fatal: the
        process still does its work, only without probes and metrics."""
        if not self.port:
            return self
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            log.warning(
                "health and metrics server not started on %s:%d (%s): set ATELIER_METRICS_PORT "
                "to a free port, or 0 to turn it off",
                self.host,
                self.port,
                exc.strerror or exc,
            )
            return self
        log.info(
            "health and metrics on http://%s:%d (/healthz /readyz /metrics)", self.host, self.port
        )
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5.0)
            while await asyncio.wait_for(reader.readline(), 5.0) not in END_OF_HEADERS:
                pass  # no header matters here
            parts = request.decode("latin-1").split()
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                status, ctype, body = 405, "text/plain; charset=utf-8", b"GET only\n"
            else:
                status, ctype, body = await self.health.answer(parts[1].split("?", 1)[0])
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                status, "Service Unavailable"
            )
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if parts[:1] == ["HEAD"] else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("health server: a request failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@asynccontextmanager
async def serve_health(settings: Settings, queue: Any) -> AsyncIterator[Health]:
    """The process's health and metrics server for the duration of the block."""
    health = Health(queue)
    server = HealthServer(health, host=settings.metrics_host, port=settings.metrics_port)
    await server.start()
    try:
        yield health
    finally:
        await server.close()
