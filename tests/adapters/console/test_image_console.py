"""The console channel shows image results: the PNG is saved under its output folder and
the terminal says where and how big it is."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

from PIL import Image

from adapters.console.chat import ConsoleChat
from bot.desk.front_desk import FrontDesk
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from tests.worker.test_worker import run_worker, stop
from worker.generators.image_output import read_png_record
from worker.generators.image_sketch import SketchGenerator
from worker.loop import Worker


async def lines(*texts: str) -> AsyncIterator[str]:
    for text in texts:
        yield text
        await asyncio.sleep(0)


async def test_console_saves_the_picture_and_prints_its_path(
    queue: JobQueue, tmp_path: Path
) -> None:
    worker = Worker(queue, [SketchGenerator()], heartbeat_s=0.5)
    task = await run_worker(worker)
    out = io.StringIO()
    inbox = ResultInbox(
        queue.redis, ConsoleChat.route_for("img"), "console", keys=queue.keys, ttl_s=60
    )
    chat = ConsoleChat(
        FrontDesk(queue), inbox, session="img", user="tester", out=out, output_dir=tmp_path / "o"
    )
    try:
        code = await chat.run(
            lines("/image a crimson kite style:shapes size:512x512 seed:3"), wait_s=60
        )
    finally:
        await stop(worker, task)
    text = out.getvalue()
    assert code == 0, text
    [saved] = (tmp_path / "o").glob("*.png")
    assert f"saved {saved} ({saved.stat().st_size / 1024:.0f} KB, image/png)" in text
    assert "made with atelier-sketch (offline sketch renderer) · seed 3" in text
    assert "(the model returned nothing)" not in text
    with Image.open(io.BytesIO(saved.read_bytes())) as img:
        assert img.size == (512, 512)
    assert read_png_record(saved.read_bytes())["prompt"] == "a crimson kite"
