"""/melody end to end: typed by a user at the front desk, queued in a real Redis, made by the
real worker with the bundled melody model, its ABC, MIDI and WAV fetched back through
bot.queue.artifacts the way an adapter uploads them."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import Iterator

import pytest
import torch

from bot.desk.front_desk import FrontDesk
from bot.jobs import Origin, Result, load_result
from bot.queue import artifacts
from bot.queue.streams import JobQueue
from worker.generators.melody_abc import MelodyGenerator
from worker.loop import Worker
from worker.models import bundled_melody

ROUTE = "console:melody-test"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


async def wait_result(queue: JobQueue, timeout: float = 60) -> Result | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, fields in await queue.redis.xrange(queue.keys.results(ROUTE)):
            if fields["type"] == "result":
                return load_result(fields["data"])
        await asyncio.sleep(0.05)
    return None


async def test_melody_job_through_worker_and_redis(queue: JobQueue) -> None:
    origin = Origin(platform="console", route=ROUTE, delivery_id="melody-1", user_id="u")
    reply = await FrontDesk(queue).handle(
        "/melody a walk by the river mood:hopeful key:D length:4 seed:5", origin
    )
    assert not reply.error, reply.text
    model = bundled_melody()
    assert model is not None
    worker = Worker(queue, [MelodyGenerator(str(model), device="cpu")], heartbeat_s=0.5)
    task = asyncio.create_task(worker.run())
    result = await wait_result(queue)
    worker.stop()
    await asyncio.wait_for(task, timeout=30)

    assert result is not None and result.ok, result
    assert result.provenance is not None and result.provenance.seed == 5
    assert result.provenance.settings["key"] == "D" and result.provenance.settings["length"] == 4
    assert "K:D" in result.text.split("\n")
    names = [a.filename for a in result.attachments]
    assert names == [
        "a-walk-by-the-river.abc",
        "a-walk-by-the-river.mid",
        "a-walk-by-the-river.wav",
    ]
    abc, mid, wav = [await artifacts.fetch(queue.redis, a) for a in result.attachments]
    assert abc is not None and abc.decode() == result.text
    assert mid is not None and mid.startswith(b"MThd") and b"MTrk" in mid
    assert wav is not None
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getnframes() / w.getframerate() > 4 * 4 * 60 / 240  # 4 bars, at most 240 bpm
