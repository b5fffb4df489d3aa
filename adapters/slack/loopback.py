"""A loopback Slack: the Web API methods the app calls, response_url, the three steps of
files_upload_v2 and a Socket Mode websocket, served on 127.0.0.1.

`atelier bench e2e` points the adapter at it (ATELIER_SLACK_API_URL) so a benchmark needs no
workspace, and the tests (`tests/support/fake_slack.py`) drive the adapter against it. It runs
its aiohttp server in a thread with its own event loop, so the client's load does not slow
its answers and one instance can serve app processes for a whole test module.

It records every call (`calls`, `count`, `tally`), keeps the messages it was asked to post
(`messages`, edited in place by chat.update) and can answer a method with 429 + Retry-After
a chosen number of times. A channel whose id starts with CNOTIN answers not_in_channel.
Blocks Slack would refuse (`adapters.slack.limits.problems`: slack_sdk's validators and the
text lengths) are answered `invalid_blocks`, as Slack does; `refuse_blocks` makes it refuse
the next blocks of a method even when they are valid.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from adapters.slack.limits import problems

BLOCK_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")


@dataclass
class Call:
    method: str
    data: dict[str, Any]
    at: float
    status: int = 200
    error: str = ""  # the Web API's `error` when it answered ok: false for the blocks


@dataclass
class LoopbackSlack:
    # Who the app is (auth.test) and the tokens it may call with.
    tokens: tuple[str, ...] = ("xoxb-loopback",)
    team: str = "T0LOOP"
    bot_user: str = "UATELIER"
    bot_id: str = "BATELIER"
    admins: set[str] = field(default_factory=set)  # is_admin in users.info
    # What it saw.
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message
    responses: list[dict[str, Any]] = field(default_factory=list)  # response_url posts
    uploads: dict[str, bytes] = field(default_factory=dict)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)  # opened with views.open
    port: int = 0
    _limits: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    _refusals: dict[str, int] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)

    # Lifecycle (a background thread with its own event loop) ---------------------------
    def start(self) -> LoopbackSlack:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the loopback Slack did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)  # uploads: images are MBs
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # users.info and a few others GET
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{n}", self._response)
        app.router.add_get("/socket", self._socket)
        # No access log: its lines came from this thread after a test had closed its output.
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # What a caller asks --------------------------------------------------------------
    def rate_limit(
        self, method: str, *, times: int = 1, retry_after: int = 1, channel: str = ""
    ) -> None:
        """Answer the next `times` calls of `method` (to `channel`, if given) with 429."""
        self._limits[(method, channel)] = [times, retry_after]

    def refuse_blocks(self, method: str, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` that carry blocks with invalid_blocks."""
        self._refusals[method] = times

    def count(self, method: str, **match: str) -> int:
        return len(self.find(method, **match))

    def find(self, method: str, **match: str) -> list[Call]:
        return [
            c
            for c in list(self.calls)
            if c.method == method and all(str(c.data.get(k)) == v for k, v in match.items())
        ]

    def tally(self) -> Counter[str]:
        """How many calls each method got (response_url and upload included)."""
        return Counter(c.method for c in list(self.calls))

    def in_channel(self, channel: str) -> list[dict[str, Any]]:
        """Messages posted in a channel (threads included), oldest first, as edited now."""
        return [m for m in list(self.messages.values()) if m["channel"] == channel]

    def send_socket(self, envelope: dict[str, Any]) -> None:
        """Push one Socket Mode envelope to the connected app."""
        assert self._loop is not None and self._sockets, "no Socket Mode connection"
        ws = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(ws.send_json(envelope), self._loop).result(5)

    # Handlers ------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        data = await _payload(request)
        call = Call(method, data, time.time())
        self.calls.append(call)
        for key in ((method, str(data.get("channel", ""))), (method, "")):
            limit = self._limits.get(key)
            if limit and limit[0] > 0:
                limit[0] -= 1
                call.status = 429
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(limit[1])},
                )
        if request.headers.get("Authorization", "") not in [f"Bearer {t}" for t in self.tokens]:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        refused = self._refused(method, data)
        if refused:
            call.error = "invalid_blocks"
            return web.json_response({"ok": False, "error": "invalid_blocks", "errors": refused})
        return web.json_response(handler(data))

    def _refused(self, method: str, data: dict[str, Any]) -> list[str]:
        if method not in BLOCK_METHODS or not data.get("blocks"):
            return []
        if self._refusals.get(method, 0) > 0:
            self._refusals[method] -= 1
            return ["refused on request"]
        return problems(_blocks(data))

    def _auth_test(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://loopback.slack/",
            "team": "Loopback",
            "user": "atelier",
            "team_id": self.team,
            "user_id": self.bot_user,
            "bot_id": self.bot_id,
        }

    def _chat_postMessage(self, data: dict[str, Any]) -> dict[str, Any]:
        channel = str(data.get("channel", ""))
        if channel.startswith("CNOTIN"):
            return {"ok": False, "error": "not_in_channel"}
        ts = f"{1700000000 + next(self._ts)}.000100"
        message = {
            "channel": channel,
            "ts": ts,
            "text": data.get("text", ""),
            "blocks": _blocks(data),
            "thread_ts": data.get("thread_ts", ""),
            "edits": 0,
        }
        self.messages[ts] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, data: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(str(data.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.update(text=data.get("text", ""), blocks=_blocks(data), edits=message["edits"] + 1)
        return {"ok": True, "channel": message["channel"], "ts": message["ts"]}

    def _chat_delete(self, data: dict[str, Any]) -> dict[str, Any]:
        found = self.messages.pop(str(data.get("ts")), None)
        return {"ok": found is not None, **({} if found else {"error": "message_not_found"})}

    def _chat_postEphemeral(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"{time.time():.6f}"}

    def _views_open(self, data: dict[str, Any]) -> dict[str, Any]:
        view = data.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        opened = {"id": f"V{next(self._ts)}", **(view or {})}
        self.views.append(opened)
        return {"ok": True, "view": opened}

    def _users_info(self, data: dict[str, Any]) -> dict[str, Any]:
        user = str(data.get("user", ""))
        return {
            "ok": True,
            "user": {"id": user, "name": user.lower(), "is_admin": user in self.admins},
        }

    def _files_getUploadURLExternal(self, data: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ts)}"
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, data: dict[str, Any]) -> dict[str, Any]:
        files = data.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def _apps_connections_open(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        self.calls.append(Call("upload", {"file_id": request.match_info["file_id"]}, time.time()))
        return web.Response(text="OK")

    async def _response(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.responses.append(data)
        self.calls.append(Call("response_url", data, time.time()))
        return web.json_response({"ok": True})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP"}}
        )
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.socket_acks.append(json.loads(msg.data))
        self._sockets.remove(ws)
        return ws


async def _payload(request: web.Request) -> dict[str, Any]:
    """slack_sdk sends some methods' arguments as a query string, others as a form or JSON."""
    data: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.content_type == "application/json":
        data.update(await request.json())
    elif request.method == "POST":
        data.update(await request.post())
    return data


def _blocks(data: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = data.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def sign(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 signature of a request: HMAC-SHA256 over `v0:timestamp:body`."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
