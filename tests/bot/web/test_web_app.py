"""The web gallery through aiohttp's test client over a real Redis: signed links, the pages
and what they must never show, and a clear 4xx page for every bad request."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.community.challenges import ChallengeStore, Entry
from bot.community.gallery import GalleryStore
from bot.desk.front_desk import FrontDesk
from bot.desk.server_settings import SettingsStore
from bot.queue.streams import JobQueue
from bot.web.app import make_app
from bot.web.links import Links
from tests.support.web_gallery import (
    ALICE_ID,
    BOB_ID,
    PLATFORM,
    SERVER,
    Made,
    make_gallery,
    origin,
    to_closed,
    to_voting,
)

IDS = (ALICE_ID, BOB_ID, SERVER)


@pytest.fixture
def links(queue: JobQueue) -> Links:
    return Links(queue.redis, keys=queue.keys, secret=SecretStr("s3cret"), ttl_s=3600)


@pytest.fixture
async def client(queue: JobQueue, links: Links) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(make_app(queue.redis, links))) as c:
        yield c


async def signed_path(links: Links, now: float | None = None) -> str:
    url = await links.signed_url(PLATFORM, SERVER, now=now)
    return url.removeprefix(links.base_url).rstrip("/")


async def page(client: TestClient[object, object], path: str, status: int = 200) -> str:
    response = await client.get(path)
    text = await response.text()
    assert response.status == status, text[:500]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Traceback" not in text
    for platform_id in IDS:
        assert platform_id not in text  # no page shows a platform id
    return text


async def test_the_gallery_lists_the_servers_pieces_newest_first_with_filters(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    made = await make_gallery(queue)
    base = await signed_path(links)
    html = await page(client, base + "/")
    order = [html.index(f"/piece/{j.id}") for j in (made.image, made.remix, made.poem)]
    assert order == sorted(order)
    assert 'alt="A lighthouse in fog"' in html and "3 pieces" in html
    only_poems = await page(client, base + "/?kind=poem")
    assert made.poem.id in only_poems and made.image.id not in only_poems
    by_bob = await page(client, base + "/?member=bob")
    assert made.remix.id in by_bob and made.poem.id not in by_bob
    entered = await page(client, base + "/?challenge=ch-tides")
    assert made.poem.id in entered and made.remix.id not in entered and "1 piece " in entered


async def test_a_piece_shows_its_provenance_its_file_and_its_chain(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    made = await make_gallery(queue)
    base = await signed_path(links)
    poem = await page(client, f"{base}/piece/{made.poem.id}")
    assert "org/poet" in poem and f"<dd>{made.poem.seed}</dd>" in poem
    assert "form=haiku" in poem and "Keats; Shelley" in poem
    assert "What came after it" in poem and made.remix.id in poem and "by Bob" in poem
    remix = await page(client, f"{base}/piece/{made.remix.id}")
    assert "It came after" in remix and made.poem.id in remix and "by Alice" in remix
    image = await page(client, f"{base}/piece/{made.image.id}")
    src = re.search(r'<img src="([^"]+)" alt="A lighthouse in fog"', image)
    assert src is not None
    response = await client.get(src.group(1))
    assert response.status == 200 and response.content_type == "image/png"
    assert (await response.read()).startswith(b"\x89PNG")


async def test_a_challenge_hides_entries_then_votes_until_it_closes(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    made = await make_gallery(queue)
    path = f"{await signed_path(links)}/challenge/{made.challenge.id}"
    opened = await page(client, path)
    assert "Tides" in opened and "2 entries so far" in opened and "salt wind" not in opened
    await to_voting(queue, made)
    voting = await page(client, path)
    assert "salt wind" in voting and "Votes are counted when the challenge closes" in voting
    assert not re.search(r"\d+ votes?<", voting)  # counted only at the close
    await to_closed(queue, made)
    closed = await page(client, path)
    assert '<span class="votes">2 votes</span>' in closed and "#1" in closed
    board = await page(client, f"{await signed_path(links)}/leaderboard")
    assert '<th scope="row">Bob</th><td>3</td>' in board
    digest = await page(client, f"{await signed_path(links)}/digest")
    assert "Tides" in digest and "2 votes" in digest


async def test_bad_links_are_refused_with_a_page_that_says_why(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    await make_gallery(queue)
    good = await signed_path(links)
    expired = await signed_path(links, now=time.time() - 7200)
    assert "expired" in await page(client, expired + "/", 410)
    slug, expires, signature = good.removeprefix("/s/").split(".")
    later = f"/s/{slug}.{int(expires) + 10**6}.{signature}/"
    assert "signature does not match" in await page(client, later, 403)
    other = Links(queue.redis, keys=queue.keys, secret=SecretStr("another key"))
    forged = (await other.signed_url(PLATFORM, SERVER)).removeprefix(other.base_url)
    assert "signature" in await page(client, forged, 403)
    assert "not a gallery link" in await page(client, "/s/nonsense/", 404)
    assert "private" in await page(client, f"/p/{slug}/", 403)


async def test_odd_requests_get_clear_4xx_pages(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    await make_gallery(queue)
    base = await signed_path(links)
    assert "no page 99999: this gallery has 1 page." in await page(
        client, base + "/?page=99999", 404
    )
    assert "not a page number" in await page(client, base + "/?page=-1", 400)
    assert "not a page number" in await page(client, base + "/?page=1e9", 400)
    assert "not a kind" in await page(client, base + "/?kind=%3Cscript%3E", 400)
    assert "Unknown or repeated" in await page(client, base + "/?page=1&page=2", 400)
    assert "Unknown or repeated" in await page(client, base + "/?utm=x", 400)
    assert "too long" in await page(client, base + "/?member=" + "x" * 600, 414)
    assert "not in the gallery" in await page(client, base + "/piece/nope", 404)
    assert "not in this server" in await page(client, base + "/challenge/nope", 404)
    assert "no page at this address" in await page(client, base + "/nothing/here", 404)
    response = await client.post(base + "/")
    assert response.status == 405 and "GET" in await response.text()


async def test_deleted_pieces_vanish_and_a_public_gallery_needs_no_signature(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    made = await make_gallery(queue)
    base = await signed_path(links)
    await GalleryStore(queue.redis, keys=queue.keys).delete(
        PLATFORM, SERVER, made.remix.id[:8], BOB_ID, admin=False
    )
    assert made.remix.id not in await page(client, base + "/")
    assert "not in the gallery" in await page(client, f"{base}/piece/{made.remix.id}", 404)
    assert made.remix.id not in await page(client, f"{base}/piece/{made.poem.id}")
    await SettingsStore(queue.redis, keys=queue.keys).set(PLATFORM, SERVER, "gallery_public", "on")
    public = (await links.public_url(PLATFORM, SERVER)).removeprefix(links.base_url)
    assert made.poem.id in await page(client, public)


async def test_gallery_web_answers_with_a_signed_link_that_opens(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    made: Made = await make_gallery(queue)
    reply = await FrontDesk(queue, web=links).handle("/gallery web", origin(9))
    assert not reply.error, reply.text
    url = re.search(r"http://\S+", reply.text)
    assert url is not None and "the link works for 1 hour;" in reply.text
    html = await page(client, url.group(0).removeprefix(links.base_url))
    assert made.poem.id in html
    refused = await FrontDesk(queue, web=links).handle("/gallery webby", origin(10))
    assert refused.error and "/gallery web" in refused.text


async def test_filters_combine_and_cover_pieces_recorded_before_the_indexes(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    made = await make_gallery(queue)
    old = {
        "job_id": "older-image-1",
        "command": "image",
        "prompt": "an old sketch",
        "text": "",
        "model": "sketch",
        "seed": 1,
        "user_id": BOB_ID,
        "user_name": "Bob",
        "at": 5.0,
        "files": [],
    }  # the shape pieces had before files' types and the indexes
    await queue.redis.set(
        queue.keys.gallery_item(PLATFORM, SERVER, "older-image-1"), json.dumps(old)
    )
    await queue.redis.zadd(queue.keys.gallery(PLATFORM, SERVER), {"older-image-1": 5.0})
    base = await signed_path(links)
    bobs = await page(client, base + "/?member=Bob&kind=image")
    assert "older-image-1" in bobs and made.image.id not in bobs and "1 piece " in bobs
    images = await page(client, base + "/?kind=image")
    assert images.index(made.image.id) < images.index("older-image-1")
    assert "older-image-1" not in await page(client, base + "/?kind=image&challenge=ch-tides")
    await GalleryStore(queue.redis, keys=queue.keys).delete(
        PLATFORM, SERVER, made.image.id, ALICE_ID, admin=False
    )
    assert made.image.id not in await page(client, base + "/?kind=image")
    assert "0 pieces" in await page(client, base + "/?member=Alice&kind=image")


async def test_entry_uploads_show_as_images_and_only_web_links_are_linked(
    queue: JobQueue, links: Links, client: TestClient[object, object]
) -> None:
    made = await make_gallery(queue)
    store = ChallengeStore(queue.redis, keys=queue.keys)
    picture = "https://cdn.example/attachments/1/tide.png"
    await store.submit(
        made.challenge,
        Entry(0, "601234567890123456", "Cora", "human", "image", url=picture,
              file_name="tide.png", file_type="image/png", file_size=10),
    )  # fmt: skip
    await store.submit(
        made.challenge,
        Entry(0, "701234567890123456", "Dev", "human", "link", url="javascript:alert(1)"),
    )
    await to_voting(queue, made)
    response = await client.get(f"{await signed_path(links)}/challenge/{made.challenge.id}")
    html = await response.text()
    assert f'<img src="{picture}" alt="Entry 3, an image">' in html
    assert "javascript:" not in html and "entry 4 by Dev" in html
    assert "img-src 'self' https:" in response.headers["Content-Security-Policy"]
