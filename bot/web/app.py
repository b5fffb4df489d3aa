"""The web gallery: server-rendered pages (Jinja2, no JavaScript) over aiohttp.

Every server page lives under two prefixes: `/s/{token}` (a signed, expiring link from
`/gallery web`) and `/p/{slug}` (the same pages, when the server's `gallery_public` is on).
Refusals of any kind (a bad link, a page past the end, an odd query string, a wrong
method) are rendered as a short page with a 4xx status; an unexpected error is logged and
answered with a plain 500 page, never a traceback.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bot.desk.server_settings import SettingsStore
from bot.keys import Keys
from bot.web import words
from bot.web.links import Links, Refused
from bot.web.views import KINDS, Reader

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
MAX_QUERY_CHARS = 512
MAX_PAGE = 1_000_000
_PAGE = re.compile(r"^\d{1,7}$")
_ID = re.compile(r"^[\w-]{1,80}$")
SECURITY_HEADERS = {
    # No scripts at all; styles and audio from this site; images from here and, for
    # challenge entries uploaded to the platform, over https (no Referer is ever sent).
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' https:; media-src 'self'; style-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a signed link never leaks through a Referer
}
READER: web.AppKey[Reader] = web.AppKey("reader", Reader)
LINKS: web.AppKey[Links] = web.AppKey("links", Links)
SETTINGS: web.AppKey[SettingsStore] = web.AppKey("settings", SettingsStore)
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates", jinja2.Environment)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Server:
    """The server a request's address names, and the prefix its links start with."""

    platform: str
    id: str
    base: str
    public: bool


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.globals["kinds"] = KINDS
    return env


def render(request: web.Request, name: str, code: int = 200, **context: Any) -> web.Response:
    html = request.app[TEMPLATES].get_template(name).render(**context)
    return web.Response(text=html, status=code, content_type="text/html", charset="utf-8")


def refusal(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", status, status=status, message=message)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if len(request.query_string) > MAX_QUERY_CHARS:
            raise Refused(414, words.TOO_LONG)
        response = await handler(request)
    except Refused as exc:
        response = refusal(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = words.NOT_ALLOWED if exc.status == 405 else words.NOT_FOUND
        response = refusal(request, exc.status if exc.status < 500 else 500, text)
    except Exception:
        log.exception("web gallery: %s failed", request.path[:3])  # the path holds the token
        response = refusal(request, 500, words.BROKEN)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def query(request: web.Request, *allowed: str) -> dict[str, str]:
    """The query string's parameters, each at most once and each one this page takes."""
    names = [name for name, _ in request.query.items()]
    odd = [n for n in names if n not in allowed or names.count(n) > 1]
    if odd:
        raise Refused(400, words.unknown_parameter(odd, allowed))
    return {n: request.query[n] for n in names}


async def server_of(request: web.Request) -> Server:
    links = request.app[LINKS]
    if "token" in request.match_info:
        token = request.match_info["token"]
        slug = await links.check(token)
        platform, server = await links.server_of(slug)
        return Server(platform, server, f"/s/{token}", public=False)
    slug = request.match_info["slug"]
    platform, server = await links.server_of(slug)
    if not (await request.app[SETTINGS].get(platform, server)).gallery_public:
        raise Refused(403, words.PRIVATE)
    return Server(platform, server, f"/p/{slug}", public=True)


def page_number(value: str) -> int:
    if not _PAGE.match(value) or not 1 <= int(value) <= MAX_PAGE:
        raise Refused(400, words.bad_page(value))
    return int(value)


async def gallery(request: web.Request) -> web.Response:
    args = query(request, "page", "kind", "member", "challenge")
    where = await server_of(request)
    number = page_number(args.get("page", "1"))
    kind, name, challenge = args.get("kind", ""), args.get("member", ""), args.get("challenge", "")
    if kind and kind not in KINDS:
        raise Refused(400, words.bad_kind(kind, KINDS))
    if len(name) > 64 or not name.isprintable():
        raise Refused(400, words.bad_member(name))
    if challenge and not _ID.match(challenge):
        raise Refused(404, words.NO_CHALLENGE)
    settings = await request.app[SETTINGS].get(where.platform, where.id)
    page = await request.app[READER].page(
        where.platform,
        where.id,
        kind=kind,
        name=name,
        challenge=challenge,
        number=number,
        keep_days=settings.gallery_days,
    )
    filters = {k: v for k, v in (("kind", kind), ("member", name), ("challenge", challenge)) if v}
    return render(request, "gallery.html", where=where, page=page, filters=filters)


def _id(request: web.Request, name: str, missing: str) -> str:
    value = request.match_info[name]
    if not _ID.match(value):
        raise Refused(404, missing)
    return value


async def piece(request: web.Request) -> web.Response:
    query(request)
    where = await server_of(request)
    view = await request.app[READER].piece(
        where.platform, where.id, _id(request, "id", words.NO_PIECE)
    )
    return render(request, "piece.html", where=where, view=view)


async def piece_file(request: web.Request) -> web.Response:
    query(request)
    where = await server_of(request)
    n = request.match_info["n"]
    if not n.isdigit() or len(n) > 3:
        raise Refused(404, words.NO_FILE)
    data, ctype = await request.app[READER].file(
        where.platform, where.id, _id(request, "id", words.NO_PIECE), int(n)
    )
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


async def challenges(request: web.Request) -> web.Response:
    query(request)
    where = await server_of(request)
    listed = await request.app[READER].challenge_list(where.platform, where.id)
    return render(request, "challenges.html", where=where, challenges=listed, now=time.time())


async def challenge(request: web.Request) -> web.Response:
    query(request)
    where = await server_of(request)
    cid = _id(request, "id", words.NO_CHALLENGE)
    view = await request.app[READER].challenge(where.platform, where.id, cid)
    return render(request, "challenge.html", where=where, view=view)


async def leaderboard(request: web.Request) -> web.Response:
    query(request)
    where = await server_of(request)
    rows = await request.app[READER].leaderboard(where.platform, where.id)
    return render(request, "leaderboard.html", where=where, rows=rows)


async def digest(request: web.Request) -> web.Response:
    query(request)
    where = await server_of(request)
    top, newest = await request.app[READER].digest(where.platform, where.id)
    return render(request, "digest.html", where=where, top=top, newest=newest)


async def home(request: web.Request) -> web.Response:
    query(request)
    return render(request, "home.html")


def make_app(redis: Any, links: Links, *, keys: Keys | None = None) -> web.Application:
    keys = keys or links.keys
    app = web.Application(middlewares=[errors], client_max_size=1024)
    app[READER] = Reader(redis, keys=keys)
    app[LINKS] = links
    app[SETTINGS] = SettingsStore(redis, keys=keys)
    app[TEMPLATES] = templates()
    app.router.add_get("/", home)
    app.router.add_static("/static", HERE / "static")
    pages: list[tuple[str, Handler]] = [
        ("/", gallery),
        ("/piece/{id}", piece),
        ("/piece/{id}/file/{n}", piece_file),
        ("/challenges", challenges),
        ("/challenge/{id}", challenge),
        ("/leaderboard", leaderboard),
        ("/digest", digest),
    ]
    for prefix in ("/s/{token}", "/p/{slug}"):
        for path, handler in pages:
            app.router.add_get(prefix + path, handler)
    return app
