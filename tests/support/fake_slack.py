"""The tests' Slack: the loopback Slack of `adapters.slack.loopback` (the Web API methods
the app calls, response_url, files_upload_v2 and a Socket Mode websocket; it records every
call) with the tests' workspace and tokens, plus a client that sends correctly signed
requests to the app's HTTP endpoint.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from adapters.slack.loopback import LoopbackSlack, sign

TEAM, BOT_USER, BOT_ID = "T0TEAM", "UATELIER", "BATELIER"


@dataclass
class FakeSlack(LoopbackSlack):
    """The loopback Slack (`adapters.slack.loopback`) as the tests' workspace."""

    tokens: tuple[str, ...] = ("xoxb-test", "xapp-test")
    team: str = TEAM
    bot_user: str = BOT_USER
    bot_id: str = BOT_ID

    def start(self) -> FakeSlack:
        super().start()
        return self


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
