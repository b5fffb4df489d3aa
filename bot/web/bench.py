"""`atelier bench web`: page latency of the web gallery with a big gallery stored.

Stores `pieces` pieces in one server's gallery (a third of them images), serves the app on a
loopback port and GETs gallery pages of 50 one after another through a signed link, as a
browser would: the page's newest pieces, pages spread over the gallery, and filtered pages
(kind, then member and kind: read through the gallery's indexes). Client and server share
one process and event loop, so the times include both sides. Its keys live under a prefix
of their own and are deleted after.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import asdict
from typing import Any

from aiohttp import ClientSession, web

from bot.benchmarks import latency_ms
from bot.community.gallery import GalleryStore, Piece
from bot.keys import Keys
from bot.web.app import make_app
from bot.web.links import Links
from bot.web.views import PAGE_SIZE

PLATFORM, SERVER = "bench", "server"
WORDS = [
    "sea",
    "dusk",
    "harbour",
    "lantern",
    "gull",
    "tide",
    "salt",
    "wind",
    "night",
    "stone",
    "field",
    "river",
    "moon",
]


def fake_piece(n: int, rng: random.Random, now: float) -> Piece:
    image = n % 3 == 0
    words = " ".join(rng.choice(WORDS) for _ in range(5))
    return Piece(
        job_id=f"bench{n:019d}",
        command="image" if image else "poem",
        prompt=words,
        text="" if image else "\n".join(" ".join(rng.sample(WORDS, 5)) for _ in range(3)),
        model="org/poet",
        seed=n,
        user_id=f"u{n % 40}",
        user_name=f"Member {n % 40}",
        at=now - n,
        settings={"form": "haiku"} if not image else {"steps": 4},
        files=["sketch.png"] if image else [],
        types=["image/png"] if image else [],
        alts=[f"A sketch of {words}"] if image else [],
    )


async def store_pieces(redis: Any, keys: Keys, count: int) -> None:
    rng, now = random.Random(7), time.time()
    for start in range(0, count, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(count, start + 1000)):
                piece = fake_piece(n, rng, now)
                pipe.set(
                    keys.gallery_item(PLATFORM, SERVER, piece.job_id), json.dumps(asdict(piece))
                )
                pipe.zadd(keys.gallery(PLATFORM, SERVER), {piece.job_id: piece.at})
            await pipe.execute()


async def _times(session: ClientSession, urls: list[str]) -> list[float]:
    spent = []
    for url in urls:
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url[-40:]} answered {response.status}")
        spent.append(time.perf_counter() - started)
    return spent


async def bench_web(*, redis: Any, pieces: int, requests: int, warmup: int = 20) -> dict[str, Any]:
    keys = Keys(f"atelier-bench-web-{uuid.uuid4().hex[:8]}:")
    links = Links(redis, keys=keys)
    runner = web.AppRunner(make_app(redis, links, keys=keys), access_log=None)
    try:
        started = time.perf_counter()
        await store_pieces(redis, keys, pieces)
        stored_s = time.perf_counter() - started
        started = time.perf_counter()
        await GalleryStore(redis, keys=keys).index(PLATFORM, SERVER)  # what record keeps
        index_s = time.perf_counter() - started
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        path = (await links.signed_url(PLATFORM, SERVER)).removeprefix(links.base_url)
        base = f"http://127.0.0.1:{port}{path}"
        pages = max(1, -(-pieces // PAGE_SIZE))
        rng = random.Random(11)
        cases = {
            "newest page": [base] * requests,
            "pages across the gallery": [
                f"{base}?page={rng.randint(1, pages)}" for _ in range(requests)
            ],
            "filtered (kind=image)": [f"{base}?kind=image"] * requests,
            "filtered (member and kind)": [
                f"{base}?member=Member+{rng.randint(0, 39)}&kind=image" for _ in range(requests)
            ],
        }
        rows = []
        async with ClientSession() as session:
            await _times(session, [base] * warmup)
            for name, urls in cases.items():
                spent = await _times(session, urls)
                rows.append({"case": name, "requests": len(urls), **latency_ms(spent)})
        timing = {"store_s": stored_s, "index_s": index_s}
        return {"pieces": pieces, "page_size": PAGE_SIZE, **timing, "rows": rows}
    finally:
        await runner.cleanup()
        await _forget(redis, keys)


async def _forget(redis: Any, keys: Keys) -> None:
    batch = []
    async for key in redis.scan_iter(match=keys.prefix + "*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.delete(*batch)
            batch.clear()
    if batch:
        await redis.delete(*batch)
