"""/image end to end through the real worker loop on a real Redis: the attachment an
adapter fetches with bot.queue.artifacts is a PNG that says how it was made; image jobs batch
by size and steps."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.commands.render import render_result
from bot.jobs import Job, Origin, Result
from bot.queue import artifacts
from bot.queue.streams import JobQueue
from tests.support.admission import admit
from tests.worker.test_worker import ROUTE, run_worker, stop, wait_results
from worker.generators.image_diffusers import DiffusersGenerator
from worker.generators.image_output import read_png_record
from worker.generators.image_sketch import SKETCH_MODEL_ID, SketchGenerator
from worker.loop import Worker


def image_job(n: int, text: str, **options: str) -> Job:
    origin = Origin(platform="console", route=ROUTE, delivery_id=f"img-{n}", user_id="u")
    job = build_job(parse(text), origin)
    if options:  # sizes below the catalogue's, to keep the tiny diffusion model quick
        job = job.model_copy(update={"options": {**job.options, **options}})
    return job


async def fetch_png(queue: JobQueue, result: Result) -> bytes:
    [attachment] = result.attachments
    assert attachment.content_type == "image/png"
    data = await artifacts.fetch(queue.redis, attachment)
    assert data is not None and len(data) == attachment.size
    return data


async def test_an_image_job_yields_a_png_attachment_with_its_provenance(queue: JobQueue) -> None:
    job = image_job(1, "/image a crimson lighthouse in fog style:flow size:512x768 seed:11")
    await admit(queue, job)
    worker = Worker(queue, [SketchGenerator()], batch_size=4, heartbeat_s=0.5)
    task = await run_worker(worker)
    [result] = await wait_results(queue, 1)
    await stop(worker, task)

    assert result.ok and result.job_id == job.id
    assert result.provenance is not None
    assert result.provenance.generator == "offline sketch renderer"
    assert result.provenance.model == SKETCH_MODEL_ID and result.provenance.seed == 11
    message = render_result(result)
    assert "offline sketch renderer" in message.footer and "seed 11" in message.footer
    assert message.body == ""  # the picture is the answer; no "returned nothing"
    data = await fetch_png(queue, result)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.format == "PNG" and img.size == (512, 768)
        r, g, b = np.asarray(img.convert("RGB")).reshape(-1, 3).mean(axis=0)
        assert r > g and r > b  # crimson
    record = read_png_record(data)
    assert record["generator"] == "offline sketch renderer" and record["seed"] == 11
    assert record["job"] == job.id and record["settings"] == dict(result.provenance.settings)
    # The alt text says what was drawn, and the prompt.
    assert result.attachments[0].description == (
        "A sketch of a crimson lighthouse (asked: a crimson lighthouse in fog)"
    )


async def test_diffusion_jobs_batch_by_size_and_match_alone(queue: JobQueue, tiny_sd: Path) -> None:
    jobs = [image_job(n, f"/image a fox {n} seed:{40 + n} steps:2", size="64x64") for n in range(3)]
    jobs.append(image_job(9, "/image a wide fox seed:7 steps:2", size="128x64"))
    for job in jobs:
        await admit(queue, job)
    gen = DiffusersGenerator(str(tiny_sd), device="cpu")
    worker = Worker(queue, [gen], batch_size=8, heartbeat_s=0.5)
    task = await run_worker(worker)
    results = await wait_results(queue, 4)
    await stop(worker, task)

    assert len(results) == 4 and all(r.ok for r in results)
    by_id = {r.job_id: r for r in results}
    sizes = {r.provenance.batch_size for r in results if r.provenance}
    assert sizes == {3, 1}  # the three 64x64 jobs shared a call; the wide one had its own
    assert gen.pipeline_calls == 1 + 2  # warm-up, then one call per size
    for job in jobs[:3]:
        data = await fetch_png(queue, by_id[job.id])
        [alone] = gen.generate([job])
        batched = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
        single = np.asarray(Image.open(io.BytesIO(alone.files[0].data)).convert("RGB"))
        assert np.abs(batched - single.astype(int)).max() <= 1
        record = read_png_record(data)
        assert record["generator"] == "diffusers" and record["seed"] == job.seed
    wide = await fetch_png(queue, by_id[jobs[3].id])
    assert Image.open(io.BytesIO(wide)).size == (128, 64)
