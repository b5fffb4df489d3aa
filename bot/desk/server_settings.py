"""Per-server settings (a Discord guild, a Slack workspace), kept in Redis so they persist.

Admins change them with `/atelier settings key:<name> value:<value>`; every adapter reads
them through `SettingsStore`. Each setting is declared once below with its parser and help,
so validation and the help text cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bot.desk.moderation import IMAGE_POLICIES
from bot.errors import UserError
from bot.jobs import ImagePolicy
from bot.keys import Keys

_WORD = re.compile(r"^[\w'-]{2,40}$", re.UNICODE)
_MODEL = re.compile(r"^[\w./-]{1,200}$")
_CHANNEL = re.compile(r"^<?#?([A-Za-z0-9]{1,32})(?:\|[^>]*)?>?$")


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    allowed_channels: tuple[str, ...] = ()  # empty: every channel
    text_model: str = ""  # "" = the worker's configured model
    image_model: str = ""
    music_model: str = ""
    jobs_per_minute: int = Field(default=6, ge=1, le=600)  # per member
    # Backpressure and fairness (`bot.queue.limits`, `bot.queue.fairness`).
    member_burst: int = Field(default=0, ge=0, le=600)  # 0: jobs_per_minute
    server_jobs_per_minute: int = Field(default=300, ge=1, le=6000)
    member_max_running: int = Field(default=3, ge=1, le=100)
    server_max_running: int = Field(default=16, ge=1, le=1000)
    moderation_words: tuple[str, ...] = ()
    gallery_days: int = Field(default=0, ge=0, le=3650)  # 0: the gallery keeps every piece
    digest_channel: str = ""  # "" = no weekly digest
    gallery_public: bool = False  # the web gallery without a signed link (`bot.web`)
    image_safety: ImagePolicy = "strict"
    moderation_log_channel: str = ""  # "" = moderators get no notes

    def allows_channel(self, channel_id: str) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels


def _channels(value: str) -> tuple[str, ...]:
    if value.lower() in ("all", "any", "every", "-"):
        return ()
    ids = []
    for part in re.split(r"[\s,]+", value.strip()):
        match = _CHANNEL.match(part)
        if match is None:
            raise UserError(f"'{part[:40]}' is not a channel; mention it (#art) or give its id.")
        ids.append(match.group(1))
    return tuple(dict.fromkeys(ids))


def _model(value: str) -> str:
    if value.lower() in ("default", "none", "-"):
        return ""
    if not _MODEL.match(value):
        raise UserError("A model is a hub id (org/name) or a directory the workers can read.")
    return value


def _rate(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UserError("jobs_per_minute must be a whole number from 1 to 600.") from None
    if not 1 <= number <= 600:
        raise UserError("jobs_per_minute must be a whole number from 1 to 600.")
    return number


def _whole(name: str, low: int, high: int) -> Callable[[str], int]:
    """A parser for a whole number from low to high whose refusal names the setting."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise UserError(f"{name} must be a whole number from {low} to {high}.")
        return number

    return parse


def _days(value: str) -> int:
    if value.lower() in ("forever", "keep", "none", "-"):
        return 0
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 3650:
        raise UserError("gallery_days must be a whole number of days from 0 (keep) to 3650.")
    return number


def _on_off(value: str) -> bool:
    word = value.strip().lower()
    if word in ("on", "yes", "true", "public"):
        return True
    if word in ("off", "no", "false", "private"):
        return False
    raise UserError("gallery_public is on (anyone with the address) or off (signed links only).")


def _one_channel(value: str, what: str = "the digest") -> str:
    if value.lower() in ("none", "off", "-"):
        return ""
    found = _channels(value)
    if len(found) != 1:
        raise UserError(f"Name one channel for {what} (#art), or none to stop it.")
    return found[0]


def _log_channel(value: str) -> str:
    return _one_channel(value, "moderation notes")


def _image_safety(value: str) -> str:
    policy = value.strip().lower()
    if policy not in IMAGE_POLICIES:
        raise UserError(
            "image_safety is strict (refuse sexual image prompts, withhold flagged images), "
            "blur (post flagged images blurred, as spoilers) or off (only the built-in list)."
        )
    return policy


def _words(value: str) -> tuple[str, ...]:
    if value.lower() in ("none", "-"):
        return ()
    words = [w for w in re.split(r"[\s,]+", value.strip().lower()) if w]
    for word in words:
        if not _WORD.match(word):
            raise UserError(f"'{word[:40]}' is not a word (2 to 40 letters, digits, ' or -).")
    return tuple(dict.fromkeys(words))


@dataclass(frozen=True)
class Setting:
    name: str
    help: str
    parse: Callable[[str], Any]
    example: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "allowed_channels",
        "Channels where members may use Atelier (all when empty).",
        _channels,
        "#art #poetry, or all",
    ),
    Setting("text_model", "Text model for this server.", _model, "org/model, or default"),
    Setting("image_model", "Image model for this server.", _model, "org/model, or default"),
    Setting("music_model", "Music model for this server.", _model, "org/model, or default"),
    Setting("jobs_per_minute", "Jobs each member may start per minute.", _rate, "6"),
    Setting(
        "member_burst",
        "Jobs a member may start at once before jobs_per_minute paces them (0: the same "
        "as jobs_per_minute).",
        _whole("member_burst", 0, 600),
        "3, or 0",
    ),
    Setting(
        "server_jobs_per_minute",
        "Jobs the whole server may start per minute.",
        _whole("server_jobs_per_minute", 1, 6000),
        "300",
    ),
    Setting(
        "member_max_running",
        "Unfinished jobs a member may have before new commands are refused.",
        _whole("member_max_running", 1, 100),
        "3",
    ),
    Setting(
        "server_max_running",
        "Jobs of each kind the server may have in the shared queue; more wait in the "
        "server's own line, so a busy server never holds up the others.",
        _whole("server_max_running", 1, 1000),
        "16",
    ),
    Setting(
        "moderation_words",
        "Words refused in prompts and results (replaces the list).",
        _words,
        "word1, word2, or none",
    ),
    Setting(
        "gallery_days",
        "Days the gallery keeps each piece (0: forever).",
        _days,
        "90, or forever",
    ),
    Setting(
        "gallery_public",
        "The web gallery without a link from /gallery web (on: anyone with its address).",
        _on_off,
        "on, or off",
    ),
    Setting(
        "digest_channel",
        "Channel for the weekly digest of the most-voted pieces (none: off).",
        _one_channel,
        "#art, or none",
    ),
    Setting(
        "image_safety",
        "Images: strict (refuse sexual prompts, withhold flagged images), blur (post flagged "
        "images blurred as spoilers) or off (only the built-in list).",
        _image_safety,
        "strict, blur or off",
    ),
    Setting(
        "moderation_log_channel",
        "Channel where moderators see refused prompts and withheld images (none: off).",
        _log_channel,
        "#mod-log, or none",
    ),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    found = _BY_NAME.get(name.strip().lower().replace("-", "_"))
    if found is None:
        raise UserError(f"Unknown setting '{name[:40]}'. Settings: {', '.join(_BY_NAME)}.")
    return found


def describe(settings: ServerSettings) -> str:
    lines = ["Server settings:"]
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if isinstance(value, tuple):
            shown = ", ".join(value) or ("all" if s.name == "allowed_channels" else "none")
        else:
            shown = str(value) or ("none" if s.name.endswith("_channel") else "default")
        lines.append(f"  {s.name}: {shown}  ({s.help})")
    lines.append("Change one with: /atelier settings key:<name> value:<value>")
    return "\n".join(lines)


class SettingsStore:
    """`settings:{platform}:{server}` hashes: one JSON-encoded field per setting."""

    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    async def get(self, platform: str, server_id: str) -> ServerSettings:
        if not server_id:
            return ServerSettings()
        raw = await self.redis.hgetall(self.keys.settings(platform, server_id))
        data = {k: json.loads(v) for k, v in raw.items() if k in _BY_NAME}
        return ServerSettings.model_validate(data)

    async def set(self, platform: str, server_id: str, name: str, value: str) -> ServerSettings:
        """Validate and store one setting; raises UserError saying what is allowed."""
        if not server_id:
            raise UserError("Settings belong to a server; use this command in one.")
        spec = setting(name)
        parsed = spec.parse(value)
        updated = (await self.get(platform, server_id)).model_copy(update={spec.name: parsed})
        stored = list(parsed) if isinstance(parsed, tuple) else parsed
        await self.redis.hset(
            self.keys.settings(platform, server_id), spec.name, json.dumps(stored)
        )
        return updated
