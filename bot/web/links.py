"""Signed, expiring links to a server's web gallery, and the slugs that name servers in them.

A link is `/s/{slug}.{expires}.{signature}/`: the slug is an HMAC of the server's platform and
id (so no platform id is ever in an address), `expires` a unix time, and the signature an
HMAC-SHA256 of both under the deployment's key (`ATELIER_WEB_SECRET`, else a key made once
and kept in Redis, so the adapter that hands links out and the web process agree). A public
gallery (the server's `gallery_public` setting) is also at `/p/{slug}/`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from pydantic import SecretStr

from bot.config import Settings
from bot.keys import Keys
from bot.web.words import EXPIRED, FORGED, NOT_A_LINK, UNKNOWN_GALLERY

_TOKEN = re.compile(r"^([0-9a-f]{20})\.(\d{1,12})\.([A-Za-z0-9_-]{22})$")
_SLUG = re.compile(r"^[0-9a-f]{20}$")


class Refused(Exception):
    """A request the web gallery turns down: its HTTP status and the words the page shows."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Links:
    def __init__(
        self,
        redis: Any,
        *,
        keys: Keys | None = None,
        secret: SecretStr | None = None,
        base_url: str = "http://127.0.0.1:8080",
        ttl_s: int = 7 * 86_400,
    ) -> None:
        self.redis = redis
        self.keys = keys or Keys()
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self._secret = secret.get_secret_value().encode() if secret else b""

    async def key(self) -> bytes:
        if not self._secret:
            made = secrets.token_hex(32)
            await self.redis.set(self.keys.web_secret(), made, nx=True)
            self._secret = str(await self.redis.get(self.keys.web_secret())).encode()
        return self._secret

    async def slug(self, platform: str, server: str) -> str:
        """The server's name in addresses, recorded so the web process can find the server."""
        mac = hmac.new(await self.key(), f"server\x1f{platform}\x1f{server}".encode(), "sha256")
        slug = mac.hexdigest()[:20]
        await self.redis.hset(self.keys.web_servers(), slug, json.dumps([platform, server]))
        return slug

    async def signed_url(self, platform: str, server: str, *, now: float | None = None) -> str:
        slug = await self.slug(platform, server)
        expires = int((time.time() if now is None else now) + self.ttl_s)
        return f"{self.base_url}/s/{slug}.{expires}.{await self._sign(slug, expires)}/"

    async def public_url(self, platform: str, server: str) -> str:
        return f"{self.base_url}/p/{await self.slug(platform, server)}/"

    async def check(self, token: str, *, now: float | None = None) -> str:
        """The slug a signed token grants; Refused when it is malformed, forged or expired."""
        match = _TOKEN.match(token)
        if match is None:
            raise Refused(404, NOT_A_LINK)
        slug, expires, signature = match.group(1), int(match.group(2)), match.group(3)
        if not hmac.compare_digest(signature, await self._sign(slug, expires)):
            raise Refused(403, FORGED)
        if (time.time() if now is None else now) >= expires:
            raise Refused(410, EXPIRED)
        return slug

    async def server_of(self, slug: str) -> tuple[str, str]:
        raw = await self.redis.hget(self.keys.web_servers(), slug) if _SLUG.match(slug) else None
        if not raw:
            raise Refused(404, UNKNOWN_GALLERY)
        platform, server = json.loads(raw)
        return str(platform), str(server)

    async def _sign(self, slug: str, expires: int) -> str:
        mac = hmac.new(await self.key(), f"link\x1f{slug}\x1f{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def links_from(settings: Settings, redis: Any, keys: Keys) -> Links:
    """The deployment's links: its key, its public address and how long a link lasts."""
    return Links(
        redis,
        keys=keys,
        secret=settings.web_secret,
        base_url=settings.web_address(),
        ttl_s=settings.web_link_ttl_s,
    )
