"""A loopback Slack for tests: the Web API methods the app calls, response_url, the three
steps of files_upload_v2, and a Socket Mode websocket; plus a client that sends correctly
signed requests to the app's HTTP endpoint.

`FakeSlack` runs its aiohttp server on 127.0.0.1 in a thread of its own, so one instance can
serve app processes for a whole test module. It records every call (`calls`, `count`), keeps
the messages it was asked to post (`messages`, edited in place by chat.update) and can answer
a method with 429 + Retry-After a chosen number of times.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TEAM, BOT_USER, BOT_ID = "T0TEAM", "UATELIER", "BATELIER"


@dataclass
class Call:
    method: str
    data: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class FakeSlack:
    admins: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message
    responses: list[dict[str, Any]] = field(default_factory=list)  # response_url posts
    uploads: dict[str, bytes] = field(default_factory=dict)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)  # opened with views.open
    _limits: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    port: int = 0

    # Lifecycle (a background thread with its own event loop) ---------------------------
    def start(self) -> FakeSlack:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Slack did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
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
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        await self._runner.cleanup()

    # What a test asks ----------------------------------------------------------------
    def rate_limit(
        self, method: str, *, times: int = 1, retry_after: int = 1, channel: str = ""
    ) -> None:
        """Answer the next `times` calls of `method` (to `channel`, if given) with 429."""
        self._limits[(method, channel)] = [times, retry_after]

    def count(self, method: str, **match: str) -> int:
        return len(self.find(method, **match))

    def find(self, method: str, **match: str) -> list[Call]:
        return [
            c
            for c in list(self.calls)
            if c.method == method and all(str(c.data.get(k)) == v for k, v in match.items())
        ]

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
        if request.headers.get("Authorization", "") not in ("Bearer xoxb-test", "Bearer xapp-test"):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(data))

    def _auth_test(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack/",
            "team": "Test",
            "user": "atelier",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
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


def block_text(message: dict[str, Any]) -> str:
    """Every piece of text in a message's blocks, buttons included, one per line."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks", []))
    return "\n".join(out)


# The signed client -------------------------------------------------------------------
def sign(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class SignedClient:
    """Sends Slack's requests to the app (`url` ends in /slack/events), signed with `secret`."""

    url: str
    secret: str
    fake: FakeSlack
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        retry: int = 0,
        secret: str | None = None,
        age_s: float = 0.0,
    ) -> tuple[int, str, float]:
        """POST a body; returns (status, text, seconds until the answer)."""
        timestamp = str(int(time.time() - age_s))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(secret or self.secret, timestamp, body),
        }
        if retry:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        started = time.monotonic()
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, data=body.encode(), headers=headers) as response,
        ):
            return response.status, await response.text(), time.monotonic() - started

    def command_body(
        self,
        command: str,
        text: str,
        *,
        channel: str,
        user: str = "U1",
        trigger: str = "",
        team: str = TEAM,
    ) -> str:
        fields = {
            "token": "legacy",
            "team_id": team,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "art",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": f"{self.fake.url}/response/{next(self._n)}",
            "trigger_id": trigger or f"trig-{next(self._n)}-{time.time_ns()}",
        }
        return urllib.parse.urlencode(fields)

    async def command(self, command: str, text: str, **kw: Any) -> tuple[int, str, float]:
        retry = kw.pop("retry", 0)
        return await self.post(
            self.command_body(command, text, **kw), "application/x-www-form-urlencoded", retry=retry
        )

    async def action(
        self,
        action_id: str,
        value: str,
        message: dict[str, Any],
        *,
        user: str = "U1",
        trigger: str = "",
    ) -> tuple[int, str, float]:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": trigger or f"trig-{next(self._n)}-{time.time_ns()}",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
            },
            "channel": {"id": message["channel"], "name": "art"},
            "message": {
                "ts": message["ts"],
                "thread_ts": message.get("thread_ts") or None,
                "blocks": message.get("blocks", []),
            },
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "value": value,
                    "block_id": "b",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self.post(_form_payload(payload), "application/x-www-form-urlencoded")

    async def submit_view(
        self, view: dict[str, Any], text: str, *, user: str = "U1"
    ) -> tuple[int, str, float]:
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": f"trig-{time.time_ns()}",
            "view": {
                **view,
                "state": {
                    "values": {"text": {"text": {"type": "plain_text_input", "value": text}}}
                },
            },
        }
        return await self.post(_form_payload(payload), "application/x-www-form-urlencoded")

    async def event(self, event: dict[str, Any], *, event_id: str = "") -> tuple[int, str, float]:
        body = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id or f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            "event": {"event_ts": f"{time.time():.6f}", **event},
        }
        return await self.post(json.dumps(body), "application/json")


def _form_payload(payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})
