"""A loopback fake of Discord for the adapter's tests: the gateway websocket and the REST
routes the bot uses, on 127.0.0.1, recording every call.

Gateway: HELLO, IDENTIFY -> READY and GUILD_CREATE (per shard), heartbeats answered with
ACK, and `dispatch(...)` to send INTERACTION_CREATE for slash commands, button clicks and
modal submits, shaped like Discord's payloads. REST: users/@me, the application, command
sync, interaction callbacks (3-second window, "already acknowledged" for a repeat), webhook
message edits and follow-ups (JSON or multipart with files), channel messages (nonces
enforced), message deletes. A message over Discord's limits is refused as Discord refuses it
(400, 50035; tests/support/discord_limits.py). Interaction tokens expire after
`token_lifetime_s`. Any route can be told to answer 429 with `retry_after`, as Discord does,
or to fail with an error.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.discord_limits import INVALID_FORM_BODY, problems
from tests.support.fake_discord_faults import Faults, Hold, RateLimit, hang
from tests.support.fake_discord_payloads import (
    ATTACHMENT,
    BOT_PERMISSIONS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    MEMBER,
    FakeUser,
    application_payload,
    attachment_payload,
    channel_payload,
    filled,
    guild_payload,
    member_payload,
    now,
)
from tests.support.fake_discord_shards import Shards
from tests.support.fake_discord_threads import ThreadRoutes

DISCORD_EPOCH_MS = 1_420_070_400_000
CALLBACK_WINDOW_S = 3.0
DEFERRED_MESSAGE, DEFERRED_UPDATE, MODAL = 5, 6, 9
__all__ = ["MANAGE_GUILD", "MANAGE_MESSAGES", "MEMBER", "Call", "FakeDiscord", "FakeUser"]


@dataclass
class Call:
    method: str
    path: str  # after the API base, e.g. "/channels/1/messages"
    json: dict[str, Any] | list[Any] | None
    files: list[tuple[str, bytes]]  # (filename, bytes) of multipart uploads
    status: int
    at: float  # time.monotonic() when it arrived
    authorized: bool


@dataclass
class FakeInteraction:
    id: int
    token: str
    created: float
    user: FakeUser
    message: dict[str, Any] | None = None  # the message a component was on
    acknowledged: bool = False
    callback_at: float | None = None
    original_id: int | None = None
    followups: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    channel_id: int = 0  # where it was used (a channel or a thread)


@dataclass
class Session:
    ws: web.WebSocketResponse
    shard: tuple[int, int]
    seq: int = 0


class FakeDiscord(Faults, ThreadRoutes, Shards):
    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        heartbeat_ms: int = 1000,
        max_upload: int = 10 * 1024 * 1024,
    ) -> None:
        self.max_upload = max_upload  # bytes a request may carry (Discord's 10 MiB for bots)
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self.token_lifetime_s = 15 * 60.0
        self._counter = 0
        self.app_id = self.snowflake()
        self.bot = FakeUser(self.snowflake(), "atelier", BOT_PERMISSIONS)
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.deleted: set[int] = set()
        self.interactions: dict[int, FakeInteraction] = {}
        self.commands: dict[str, dict[str, Any]] = {}
        self.synced_guild: int | None = None
        self.sessions: dict[int, Session] = {}
        self.identified = 0
        self.heartbeats = 0
        self.recommended_shards = 1
        self.intents = 0  # what the bot identified with
        self.threads: dict[int, dict[str, Any]] = {}  # thread id -> its channel payload
        self.event_tasks: set[asyncio.Task[None]] = set()
        self._nonces: dict[tuple[int, str], int] = {}
        self._limits: list[RateLimit] = []
        self._failures: list[tuple[str, re.Pattern[str], int, int, list[int]]] = []
        self._holds: list[Hold] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._shards_init()

    # Lifecycle ------------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=self.max_upload)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        # A held request (`hold`) never ends by itself: stopping waits a second, not 60.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def env(self) -> dict[str, str]:
        return {
            "DISCORD_TOKEN": self.token,
            "ATELIER_DISCORD_API_BASE": self.api_base,
            "ATELIER_DISCORD_GATEWAY_URL": self.gateway_url,
        }

    # Helpers for tests ----------------------------------------------------------------
    def snowflake(self) -> int:
        self._counter += 1
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (self._counter & 0x3FFFFF)

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        regex = re.compile(pattern)
        return [c for c in self.calls if c.method == method and regex.search(c.path)]

    async def wait_for(
        self, check: Callable[[], Any], *, timeout: float = 30.0, what: str = "a condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; calls: {self.summary()}")
            await asyncio.sleep(0.05)

    def summary(self) -> list[str]:
        return [f"{c.method} {c.path} -> {c.status}" for c in self.calls]

    def visible_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Messages in the channel now (not deleted, not ephemeral)."""
        channel = str(channel_id or self.channel_id)
        return [
            m
            for mid, m in self.messages.items()
            if m["channel_id"] == channel and mid not in self.deleted and not m["flags"] & 64
        ]

    # Interactions the test sends ------------------------------------------------------
    def slash(
        self,
        name: str,
        user: FakeUser,
        options: dict[str, Any] | None = None,
        *,
        sub: str | None = None,
        focused: str | None = None,
        channel_id: int | None = None,
        guild_id: int | None = None,
    ) -> dict[str, Any]:
        """An APPLICATION_COMMAND interaction for a synced command, typed by its definition;
        with `focused`, the AUTOCOMPLETE interaction of a member typing that option; with
        `channel_id`, used in that channel or thread; with `guild_id`, in that guild."""
        command = self.commands[name]
        spec = command.get("options", [])
        if sub is not None:
            spec = next(o for o in spec if o["name"] == sub).get("options", [])
        kinds = {o["name"]: o["type"] for o in spec}
        uploads = {v["id"]: v for k, v in (options or {}).items() if kinds[k] == ATTACHMENT}
        typed = [
            {"name": k, "type": kinds[k], "value": v["id"] if kinds[k] == ATTACHMENT else v}
            | ({"focused": True} if k == focused else {})
            for k, v in (options or {}).items()
        ]
        if sub is not None:
            typed = [{"name": sub, "type": 1, "options": typed}]
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": typed}
        if uploads:  # an attachment option's value is an id; the file is in `resolved`
            data["resolved"] = {"attachments": uploads}
        if self.synced_guild is not None:
            data["guild_id"] = str(self.synced_guild)
        return self._interaction(
            4 if focused else 2, user, data, channel_id=channel_id, guild_id=guild_id
        )

    def upload(self, filename: str, content_type: str, size: int) -> dict[str, Any]:
        """A file a member attached to a slash command (pass it as the option's value)."""
        aid = self.snowflake()
        return attachment_payload(aid, self.channel_id, filename, content_type, size)

    def click(self, message_id: int, custom_id: str, user: FakeUser) -> dict[str, Any]:
        """A MESSAGE_COMPONENT interaction: a button on a message the bot posted."""
        message = copy.deepcopy(self.messages[message_id])
        data = {"custom_id": custom_id, "component_type": 2}
        return self._interaction(3, user, data, message=message)

    def submit_modal(
        self, opened_by: dict[str, Any], values: dict[str, str], user: FakeUser
    ) -> dict[str, Any]:
        """A MODAL_SUBMIT for the modal the bot answered `opened_by` with."""
        state = self.interactions[int(opened_by["id"])]
        assert state.modal is not None, "the bot did not answer with a modal"
        data = {
            "custom_id": state.modal["custom_id"],
            "components": filled(state.modal["components"], values),
        }
        return self._interaction(5, user, data, message=state.message)

    def buttons(self, message: dict[str, Any]) -> dict[str, str]:
        """Button label -> custom id, from a message's components."""
        found: dict[str, str] = {}
        for row in message.get("components", []):
            for comp in row.get("components", []):
                if comp.get("type") == 2 and "custom_id" in comp:
                    found[comp.get("label", "")] = comp["custom_id"]
        return found

    async def dispatch(self, payload: dict[str, Any]) -> float:
        """Send INTERACTION_CREATE on the shard that owns the guild; returns when (monotonic)."""
        session = self.session_of(int(payload.get("guild_id") or self.guild_id))
        session.seq += 1
        await session.ws.send_json(
            {"op": 0, "t": "INTERACTION_CREATE", "s": session.seq, "d": payload}
        )
        return time.monotonic()

    def _interaction(
        self,
        kind: int,
        user: FakeUser,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        channel_id: int | None = None,
        guild_id: int | None = None,
    ) -> dict[str, Any]:
        iid = self.snowflake()
        guild = guild_id or self.guild_id
        where = channel_id or self.guild_channels[guild]
        channel = self.threads.get(where) or channel_payload(where, guild)
        token = "itok." + secrets.token_urlsafe(32)
        self.interactions[iid] = FakeInteraction(
            iid, token, time.time(), user, message, channel_id=where
        )
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild),
            "guild": {"id": str(guild), "locale": "en-US", "features": []},
            "channel_id": str(where),
            "channel": {**channel, "permissions": str(BOT_PERMISSIONS)},
            "member": member_payload(user),
            "token": token,
            "version": 1,
            "app_permissions": str(BOT_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        return payload

    # Gateway --------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
        async for msg in ws:
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                self.heartbeats += 1
                await ws.send_json({"op": 11})
            elif frame["op"] == 2:
                if frame["d"].get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self.intents = int(frame["d"].get("intents") or 0)
                await self._identify(ws, tuple(frame["d"].get("shard") or (0, 1)))
        return ws

    async def _identify(self, ws: web.WebSocketResponse, shard: tuple[int, ...]) -> None:
        shard_id, count = int(shard[0]), int(shard[1])
        self.note_identify(shard_id)
        session = Session(ws, (shard_id, count))
        self.sessions[shard_id] = session
        mine = self.guilds_on(shard_id, count)
        ready = {
            "v": 10,
            "user": {**self.bot.payload(), "bot": True, "verified": True, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in mine],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.app_id), "flags": 0},
            "shard": [shard_id, count],
        }
        guilds = [guild_payload(g, self.guild_channels[g], self.snowflake()) for g in mine]
        for guild in guilds:  # the active threads, as Discord sends
            guild["threads"] = [
                t for t in self.threads.values() if t.get("guild_id") == guild["id"]
            ]
        for event, data in [("READY", ready), *(("GUILD_CREATE", g) for g in guilds)]:
            session.seq += 1
            await ws.send_json({"op": 0, "t": event, "s": session.seq, "d": data})
        self.identified += 1

    # REST -----------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body, files = await _body(request)
        authorized = request.headers.get("Authorization") == f"Bot {self.token}"
        call = Call(request.method, path, body, files, 0, time.monotonic(), authorized)
        self.calls.append(call)
        held = self._hold_for(call)
        if held is not None and not held.record:
            await hang()
        response = (
            self._limited(request.method, path)
            or self._failing(request.method, path)
            or _invalid(call)
            or self._route(call)
        )
        call.status = response.status
        if held is not None:
            await hang()
        return response

    def _route(self, call: Call) -> web.Response:
        m, p = call.method, call.path
        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p):
            return self._callback(int(match[1]), match[2], call)
        if match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)(?:/messages/(@original|\d+))?", p):
            return self._webhook(m, match[2], match[3], call)
        if not call.authorized:
            return _error(401, 0, "401: Unauthorized")
        if (m, p) == ("GET", "/users/@me"):
            return _json({**self.bot.payload(), "bot": True, "flags": 0})
        if (m, p) == ("GET", "/oauth2/applications/@me"):
            owner = FakeUser(self.snowflake(), "owner")
            return _json(application_payload(self.app_id, self.bot, owner))
        if (m, p) == ("GET", "/gateway/bot"):
            return _json(
                {
                    "url": self.gateway_url,
                    "shards": self.recommended_shards,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if m == "PUT" and (
            match := re.fullmatch(r"/applications/(\d+)(?:/guilds/(\d+))?/commands", p)
        ):
            return self._sync(match[2], call)
        if m == "POST" and (match := re.fullmatch(r"/channels/(\d+)/messages", p)):
            return self._channel_post(int(match[1]), call)
        if m == "DELETE" and (match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", p)):
            if int(match[2]) not in self.messages or int(match[2]) in self.deleted:
                return _error(404, 10008, "Unknown Message")
            self.deleted.add(int(match[2]))
            return web.Response(status=204)
        return self.thread_route(call) or _error(404, 0, "404: Not Found")

    def _sync(self, guild: str | None, call: Call) -> web.Response:
        assert isinstance(call.json, list)
        self.synced_guild = int(guild) if guild else None
        out = []
        for spec in call.json:
            command = {
                **spec,
                "id": str(self.snowflake()),
                "application_id": str(self.app_id),
                "version": str(self.snowflake()),
                "type": spec.get("type", 1),
                "default_member_permissions": spec.get("default_member_permissions"),
                "nsfw": spec.get("nsfw", False),
            }
            if guild:
                command["guild_id"] = guild
            self.commands[command["name"]] = command
            out.append(command)
        return _json(out)

    def _callback(self, iid: int, token: str, call: Call) -> web.Response:
        state = self.interactions.get(iid)
        if state is None or state.token != token:
            return _error(401, 50027, "Invalid Webhook Token")
        if state.acknowledged:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if time.time() - state.created > CALLBACK_WINDOW_S:
            return _error(404, 10062, "Unknown interaction")
        assert isinstance(call.json, dict)
        state.acknowledged, state.callback_at = True, call.at
        kind = call.json["type"]
        data = call.json.get("data") or {}
        message = None
        if kind in (4, DEFERRED_MESSAGE):
            flags = int(data.get("flags") or 0) | (128 if kind == DEFERRED_MESSAGE else 0)
            message = self._new_message(data, call.files, flags=flags, interaction=state)
            state.original_id = int(message["id"])
        elif kind == MODAL:
            state.modal = data
        elif kind == 7 and state.message is not None:
            message = self._edit(int(state.message["id"]), data, call.files)
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            resource["message"] = message
        return _json(
            {
                "interaction": {
                    "id": str(iid),
                    "type": 2,
                    "response_message_id": message["id"] if message else None,
                    "response_message_loading": kind == DEFERRED_MESSAGE,
                    "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
                },
                "resource": resource,
            }
        )

    def _webhook(
        self, method: str, token: str, message_ref: str | None, call: Call
    ) -> web.Response:
        state = next((i for i in self.interactions.values() if i.token == token), None)
        if state is None or time.time() - state.created > self.token_lifetime_s:
            return _error(401, 50027, "Invalid Webhook Token")
        if message_ref is None:  # a follow-up message
            if method != "POST":
                return _error(405, 0, "405: Method Not Allowed")
            assert isinstance(call.json, dict)
            message = self._new_message(
                call.json, call.files, flags=int(call.json.get("flags") or 0), interaction=state
            )
            state.followups.append(int(message["id"]))
            return _json(message)
        mid = state.original_id if message_ref == "@original" else int(message_ref)
        if mid is None or mid not in self.messages or mid in self.deleted:
            return _error(404, 10008, "Unknown Message")
        if mid != state.original_id and mid not in state.followups:
            return _error(404, 10008, "Unknown Message")
        if method == "GET":
            return _json(self.messages[mid])
        if method == "DELETE":
            self.deleted.add(mid)
            return web.Response(status=204)
        assert isinstance(call.json, dict)
        return _json(self._edit(mid, call.json, call.files))

    def _channel_post(self, channel_id: int, call: Call) -> web.Response:
        assert isinstance(call.json, dict)
        nonce = call.json.get("nonce")
        if nonce and call.json.get("enforce_nonce") and (channel_id, nonce) in self._nonces:
            return _json(self.messages[self._nonces[(channel_id, nonce)]])
        message = self._new_message(call.json, call.files, channel_id=channel_id)
        if nonce:
            self._nonces[(channel_id, nonce)] = int(message["id"])
        return _json(message)

    def _new_message(
        self,
        data: dict[str, Any],
        files: list[tuple[str, bytes]],
        *,
        flags: int = 0,
        channel_id: int | None = None,
        interaction: FakeInteraction | None = None,
    ) -> dict[str, Any]:
        mid = self.snowflake()
        message: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(
                channel_id or (interaction.channel_id if interaction else 0) or self.channel_id
            ),
            "guild_id": str(self.guild_id),
            "author": {**self.bot.payload(), "bot": True},
            "content": "",
            "timestamp": now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 20 if interaction else 0,
            "flags": flags,
        }
        if interaction is not None:
            message["webhook_id"] = str(self.app_id)
            message["application_id"] = str(self.app_id)
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": 2,
                "user": interaction.user.payload(),
                "authorizing_integration_owners": {"0": str(self.guild_id)},
            }
        if data.get("nonce"):
            message["nonce"] = data["nonce"]
        if data.get("message_reference"):  # a reply to another message
            message["type"] = 19
            message["message_reference"] = {"type": 0, **data["message_reference"]}
        self.messages[mid] = message
        return self._edit(mid, data, files)

    def _edit(
        self, mid: int, data: dict[str, Any], files: list[tuple[str, bytes]]
    ) -> dict[str, Any]:
        message = self.messages[mid]
        for key in ("content", "embeds", "components"):
            if key in data:
                message[key] = (
                    data[key] if data[key] is not None else ([] if key != "content" else "")
                )
        if files or "attachments" in data:
            # Alt text travels in the payload's attachment list, matched to files by name.
            alt = {
                a.get("filename"): a.get("description", "")
                for a in data.get("attachments") or []
                if isinstance(a, dict)
            }
            message["attachments"] = [
                {
                    "id": str(self.snowflake()),
                    "filename": name,
                    "description": alt.get(name, ""),
                    "size": len(raw),
                    "url": f"{self.api_base}/attachments/{mid}/{name}",
                    "proxy_url": f"{self.api_base}/attachments/{mid}/{name}",
                    "content_type": "text/plain; charset=utf-8",
                    "data": raw.decode(errors="replace"),  # for the tests' assertions
                }
                for name, raw in files
            ]
        if "flags" in data and data["flags"] is not None:
            message["flags"] = int(data["flags"])
        elif message["flags"] & 128 and ("content" in data or "embeds" in data):
            message["flags"] &= ~128  # the "thinking" state ends with the first edit
        if message["edited_timestamp"] is None and message["content"] + str(message["embeds"]):
            message["edited_timestamp"] = now()
        return message


async def _body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name == "payload_json":
                payload = json.loads(await part.text())  # type: ignore[union-attr]
            else:
                files.append((part.filename or "", bytes(await part.read())))  # type: ignore[union-attr]
        return payload, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), []


def _invalid(call: Call) -> web.Response | None:
    """Discord's answer to a message over its limits (tests/support/discord_limits.py)."""
    if call.method not in ("POST", "PATCH") or not isinstance(call.json, dict):
        return None
    message = call.json
    if re.fullmatch(r"/interactions/\d+/[^/]+/callback", call.path):
        message = (call.json.get("data") or {}) if call.json.get("type") in (4, 7) else {}
    elif not re.search(r"/messages(?:/|$)|^/webhooks/", call.path):
        return None
    found = problems(message)
    if not found:
        return None
    return _error(400, INVALID_FORM_BODY, "Invalid Form Body: " + "; ".join(found))


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json", no charset: discord.py parses a body only with that type.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)
