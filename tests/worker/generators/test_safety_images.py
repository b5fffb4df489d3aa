"""The per-server image policy (strict, blur, off) applied to flagged images: by the sketch
renderer with an output check that flags, by a tiny real diffusers pipeline whose own safety
checker flags everything, and end to end through the worker loop, with the moderators'
notes."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.desk.front_desk import FrontDesk
from bot.desk.moderation import ModLog
from bot.desk.server_settings import SettingsStore
from bot.jobs import ImagePolicy, Job, Origin, Result, load_result
from bot.queue import artifacts
from bot.queue.streams import JobQueue
from worker.generators.image_diffusers import SAFETY_FLAGGED, DiffusersGenerator
from worker.generators.image_output import SPOILER_PREFIX, read_png_record
from worker.generators.image_sketch import SketchGenerator
from worker.loop import Worker

ROUTE = "discord"
POLICIES: tuple[ImagePolicy, ...] = ("strict", "blur", "off")


def no_herons(job: Job, image: Image.Image) -> str | None:
    """An output check in the pluggable shape: a reason for what it flags."""
    return "the heron detector flagged it" if "heron" in job.prompt else None


def image_job(n: int, text: str, policy: ImagePolicy = "strict", *, tiny: bool = False) -> Job:
    origin = Origin(platform="discord", route=ROUTE, delivery_id=f"img-{n}", guild_id="g1")
    job = build_job(parse(text), origin, image_safety=policy)
    if tiny:  # the tiny diffusion model: 64 pixels and two steps (not catalogue choices)
        job = job.model_copy(update={"options": {**job.options, "size": "64x64", "steps": 2}})
    return job


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def edges(a: np.ndarray) -> float:
    """Mean difference between neighbouring pixels: high for a sharp picture."""
    return float(np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean())


def test_strict_withholds_blur_blurs_as_a_spoiler_and_off_posts_as_made() -> None:
    gen = SketchGenerator(checks=[no_herons])
    text = "/image a heron in the reeds style:ink size:512x512 seed:4"
    [unflagged] = SketchGenerator().generate([image_job(0, text)])
    strict, blur, off = gen.generate(
        [image_job(1, text, "strict"), image_job(2, text, "blur"), image_job(3, text, "off")]
    )
    sharp = pixels(unflagged.files[0].data)

    assert not strict.files and strict.flag is not None
    assert strict.error.startswith("The image was withheld: the heron detector flagged it")
    assert "image policy is strict" in strict.error and strict.action == "withheld an image"

    [file] = blur.files
    assert not blur.error and file.filename.startswith(SPOILER_PREFIX)
    assert "Blurred and marked as a spoiler: the heron detector flagged it" in blur.note
    assert blur.settings["safety"] == "flagged, blurred"
    assert read_png_record(file.data)["settings"]["safety"] == "flagged, blurred"  # type: ignore[index]
    soft = pixels(file.data)
    assert soft.shape == sharp.shape and edges(soft) < edges(sharp) / 4
    assert abs(soft.mean() - sharp.mean()) < 12  # the colours stay; the shapes go

    [shown] = off.files
    assert not off.error and not shown.filename.startswith(SPOILER_PREFIX)
    assert np.array_equal(pixels(shown.data), sharp)
    assert "image_safety is off" in off.note and off.flag is not None
    assert off.settings["safety"] == "flagged, shown (policy off)"


def test_an_unflagged_image_is_untouched_by_any_policy() -> None:
    gen = SketchGenerator(checks=[no_herons])
    text = "/image a fox size:512x512 seed:2"
    outs = gen.generate([image_job(n, text, p) for n, p in enumerate(POLICIES)])
    assert all(out.flag is None and not out.note and "safety" not in out.settings for out in outs)
    a, b, c = (pixels(out.files[0].data) for out in outs)
    assert np.array_equal(a, b) and np.array_equal(b, c)
    assert not any(out.files[0].filename.startswith(SPOILER_PREFIX) for out in outs)


@pytest.fixture(scope="module")
def checked_sd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiffusersGenerator]:
    from tests.support.tiny_diffusion import build_tiny_sd

    model = build_tiny_sd(tmp_path_factory.mktemp("models") / "sd-checked", flag_everything=True)
    gen = DiffusersGenerator(str(model), device="cpu")
    gen.load()
    yield gen


def test_the_pipelines_safety_checker_under_each_policy(checked_sd: DiffusersGenerator) -> None:
    text = "/image a lantern seed:11"
    jobs = [image_job(n, text, p, tiny=True) for n, p in enumerate(POLICIES)]
    strict, blur, off = checked_sd.generate(jobs)
    assert SAFETY_FLAGGED in strict.error and not strict.files
    # The checker runs after the pipeline, so the flagged picture is the real one: a checker
    # inside the pipeline would have blacked it out (all zeros).
    assert checked_sd.pipe.safety_checker is None
    shown = pixels(off.files[0].data)
    assert shown.mean() > 30 and shown.std() > 3 and SAFETY_FLAGGED in off.note
    soft = pixels(blur.files[0].data)
    assert soft.mean() > 30 and edges(soft) < edges(shown) / 2
    assert blur.files[0].filename.startswith(SPOILER_PREFIX) and SAFETY_FLAGGED in blur.note


async def wait_results(queue: JobQueue, count: int, timeout: float = 60) -> list[Result]:
    deadline = time.monotonic() + timeout
    while True:
        entries = await queue.redis.xrange(queue.keys.results(ROUTE))
        results = [load_result(f["data"]) for _, f in entries if f["type"] == "result"]
        if len(results) >= count or time.monotonic() > deadline:
            return results
        await asyncio.sleep(0.05)


async def test_the_worker_applies_each_servers_policy_and_notes_it_for_moderators(
    queue: JobQueue,
) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("discord", "strict-server", "moderation_log_channel", "#C1")
    await store.set("discord", "blur-server", "image_safety", "blur")
    await store.set("discord", "blur-server", "moderation_log_channel", "#C2")
    desk = FrontDesk(queue, store)
    asked = {}
    for server in ("strict-server", "blur-server"):
        origin = Origin(
            platform="discord",
            route=ROUTE,
            channel_id="c1",
            user_id="u1",
            user_name="alice",
            guild_id=server,
            delivery_id=f"w-{server}",
        )
        reply = await desk.handle("/image a heron at dawn size:512x512 seed:3", origin)
        assert not reply.error, reply.text
        asked[server] = reply.job_id
    worker = Worker(queue, [SketchGenerator(checks=[no_herons])], heartbeat_s=0.5)
    task = asyncio.create_task(worker.run())
    try:
        results = {r.job_id: r for r in await wait_results(queue, 2)}
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=30)
    strict, blur = results[asked["strict-server"]], results[asked["blur-server"]]
    assert not strict.ok and "withheld: the heron detector flagged it" in strict.error
    assert strict.attempts == 1 and not strict.attachments  # never retried
    assert blur.ok and "Blurred and marked as a spoiler" in blur.note
    assert blur.provenance is not None and blur.provenance.settings["safety"] == "flagged, blurred"
    [attachment] = blur.attachments
    assert attachment.filename.startswith(SPOILER_PREFIX)
    assert await artifacts.fetch(queue.redis, attachment)
    notes = dict(await ModLog(queue.redis, keys=queue.keys).take("discord"))
    assert notes["C1"].startswith("Atelier withheld an image: /image by alice (u1).")
    assert "heron detector" in notes["C1"] and "Excerpt: “a heron at dawn" in notes["C1"]
    assert notes["C2"].startswith("Atelier posted a flagged image, blurred: /image by alice")
