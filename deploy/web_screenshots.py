"""Screenshots of the web gallery for docs/web.md: a small made-up server's gallery, one
piece and one closed challenge, each at desktop and phone width, taken with headless
Chromium (Debian's `chromium` and `chromium-driver`) through Selenium.

    python deploy/web_screenshots.py [docs/web]

It needs no Redis server (an embedded store) and no network: the pages are served on a
loopback port for the length of the run.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import fakeredis
from aiohttp import web
from PIL import Image, ImageDraw
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from bot.community.challenges import Challenge, ChallengeStore, Entry
from bot.community.gallery import Piece
from bot.keys import Keys
from bot.web.app import make_app
from bot.web.links import Links

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
PLATFORM, SERVER = "discord", "demo"
POEMS = [
    ("the harbour at dawn", "Mira", "gulls over grey water\nthe nets come in\nsalt on every hand"),
    ("the harbour at night", "Tomas", "lanterns on black water\nboats knock\nsleep, old rope"),
    ("a field after rain", "Ines", "furrows hold the sky\nsmall mirrors\na crow walks through"),
    ("winter orchard", "Mira", "bare apple boughs\nthe ladder leaning\nwhere October left it"),
]
SOURCES = "Keats, To Autumn; Clare, The Harvest Moon"


def sketch(seed: int) -> bytes:
    """A small generated picture: sky, sea and a lighthouse, tinted by the seed."""
    img = Image.new("RGB", (512, 512))
    draw = ImageDraw.Draw(img)
    for y in range(512):
        t = y / 511
        sky = (int(90 + 120 * t), int(110 + 90 * t), int(160 + 60 * math.sin(seed + t)))
        draw.line([(0, y), (511, y)], fill=sky if y < 330 else (30, 60 + y // 8, 90 + y // 6))
    draw.rectangle([300, 170, 340, 330], fill=(235, 230, 220))
    draw.polygon([(292, 170), (348, 170), (320, 130)], fill=(170, 40, 30))
    draw.ellipse([60 + seed * 7 % 200, 60, 130 + seed * 7 % 200, 130], fill=(250, 230, 170))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def demo_gallery(redis: Any, keys: Keys) -> dict[str, str]:
    """Pieces (poems, a remix chain, images) and a closed challenge; returns ids to shoot."""
    now = time.time()
    ids = {}
    pieces = []
    for n, (prompt, by, text) in enumerate(POEMS):
        parent = pieces[0] if n == 1 else None
        pieces.append(
            Piece(
                job_id=f"demo-poem-{n}",
                command="poem",
                prompt=prompt,
                text=text,
                model="cento",
                seed=1000 + n,
                user_id=f"u{n}",
                user_name=by,
                at=now - 3600 * (8 - n),
                settings={"form": "haiku", "sources": SOURCES},
                parent_id=parent.job_id if parent else "",
                parent_author=parent.user_name if parent else "",
                parent_command="",
            )
        )
    for n, prompt in enumerate(("a lighthouse in fog", "the harbour at night, painted")):
        job_id = f"demo-image-{n}"
        await redis.set(keys.artifact(job_id, 0), base64.b64encode(sketch(n)).decode())
        pieces.append(
            Piece(
                job_id=job_id,
                command="image",
                prompt=prompt,
                text="",
                model="sketch",
                seed=77 + n,
                user_id=f"u{n}",
                user_name=("Tomas", "Ines")[n],
                at=now - 1800 * (2 - n),
                settings={"steps": 4, "size": 512},
                files=["sketch.png"],
                types=["image/png"],
                alts=[f"A sketch: {prompt}"],
                parent_id="demo-poem-1" if n == 1 else "",
                parent_author="Tomas" if n == 1 else "",
                parent_command="poem" if n == 1 else "",
            )
        )
    for piece in pieces:
        await redis.set(keys.gallery_item(piece.job_id), json.dumps(asdict(piece)))
        await redis.zadd(keys.gallery(PLATFORM, SERVER), {piece.job_id: piece.at})
        if piece.parent_id:
            await redis.zadd(keys.gallery_after(piece.parent_id), {piece.job_id: piece.at})
    ids["piece"] = "demo-poem-1"
    ids["challenge"] = await demo_challenge(redis, keys, now)
    return ids


async def demo_challenge(redis: Any, keys: Keys, now: float) -> str:
    store = ChallengeStore(redis, keys=keys)
    challenge = await store.open(
        Challenge(
            id="demo-tides",
            platform=PLATFORM,
            server=SERVER,
            channel="art",
            theme="Tides",
            owner="u0",
            opened_at=now - 7200,
            voting_at=now + 60,
            ends_at=now + 120,
            rules="one entry each",
        )
    )
    entries = [
        ("u0", "Mira", "ai-generated", "demo-poem-0", ""),
        (
            "u1",
            "Tomas",
            "human",
            "",
            "the sea goes out\ntaking small stones\nthey come back rounder",
        ),
        ("u2", "Ines", "ai-assisted", "", "moon pulls, the bay breathes"),
    ]
    for author, name, made, job_id, text in entries:
        await store.submit(
            challenge, Entry(0, author, name, made, "poem", text=text, job_id=job_id)
        )
    await store.advance(challenge.id, now=now + 60)
    voting = await store.get(challenge.id)
    assert voting is not None
    for number, voters in ((2, ("u0", "u2", "u3")), (1, ("u1",)), (3, ("u4", "u5"))):
        for voter in voters:
            await store.vote(voting, number, voter, now=now + 61)
    await store.advance(challenge.id, now=now + 120)
    return challenge.id


def chromium() -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(shutil.which("chromedriver"))))


async def main(out: Path) -> None:
    redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    keys = Keys("demo:")
    ids = await demo_gallery(redis, keys)
    links = Links(redis, keys=keys, base_url="")
    runner = web.AppRunner(make_app(redis, links, keys=keys), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    signed = base + await links.signed_url(PLATFORM, SERVER)
    pages = {
        "gallery": signed,
        "piece": f"{signed}piece/{ids['piece']}",
        "challenge": f"{signed}challenge/{ids['challenge']}",
    }
    driver = await asyncio.to_thread(chromium)
    try:
        for size_name, (width, height) in SIZES.items():
            driver.set_window_size(width, height)
            for page, url in pages.items():
                await asyncio.to_thread(driver.get, url)
                await asyncio.sleep(0.3)  # images finish decoding
                path = out / f"{page}-{size_name}.png"
                await asyncio.to_thread(driver.save_screenshot, str(path))
                print(path)
    finally:
        driver.quit()
        await runner.cleanup()


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/web")
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(folder))
