"""A server's shared styles: a name, the words it adds to prompts, the command it is for and
optionally a model; with usage counts, so `/style list` shows what the server likes."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from bot.errors import UserError
from bot.keys import Keys

_NAME = re.compile(r"^[\w-]{2,32}$")
MAX_STYLES = 100


@dataclass(frozen=True)
class Style:
    name: str
    suffix: str
    command: str = "poem"
    model: str = ""
    author: str = ""
    uses: int = 0


def split_name(text: str) -> tuple[str, str]:
    """("dusk", "soft light, muted colours") from "dusk soft light, muted colours"."""
    name, _, rest = text.strip().partition(" ")
    name = name.lower()
    if not _NAME.match(name):
        raise UserError("A style's name is one word of 2 to 32 letters, digits, - or _.")
    return name, rest.strip()


class StyleStore:
    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    async def save(self, platform: str, server: str, style: Style) -> Style:
        key = self.keys.styles(platform, server)
        if not style.suffix:
            raise UserError("Say what the style adds, e.g. /style save dusk soft light, muted.")
        if await self.redis.hlen(key) >= MAX_STYLES and not await self.redis.hexists(
            key, style.name
        ):
            raise UserError(f"This server has {MAX_STYLES} styles; that is the most it keeps.")
        data = asdict(style)
        data.pop("uses")
        await self.redis.hset(key, style.name, json.dumps(data))
        return style

    async def get(self, platform: str, server: str, name: str) -> Style:
        raw = await self.redis.hget(self.keys.styles(platform, server), name.lower())
        if raw is None:
            raise UserError(f"This server has no style '{name[:32]}'; /style list shows them.")
        uses = await self.redis.zscore(self.keys.style_uses(platform, server), name.lower())
        return Style(**json.loads(raw), uses=int(uses or 0))

    async def used(self, platform: str, server: str, name: str) -> None:
        await self.redis.zincrby(self.keys.style_uses(platform, server), 1, name)

    async def all(self, platform: str, server: str) -> list[Style]:
        raw = await self.redis.hgetall(self.keys.styles(platform, server))
        uses = dict(
            await self.redis.zrange(self.keys.style_uses(platform, server), 0, -1, withscores=True)
        )
        styles = [Style(**json.loads(v), uses=int(uses.get(k, 0))) for k, v in raw.items()]
        return sorted(styles, key=lambda s: (-s.uses, s.name))
