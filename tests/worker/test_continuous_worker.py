"""The continuous-batching worker against a real Redis and tiny real models: a job that
arrives mid-batch joins it, each job is published the moment it finishes, progress streams
while rows generate, and a failing job is still isolated and dead-lettered."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.errors import ConfigError
from bot.jobs import Job, Origin, Progress, Result, load_result
from bot.keys import WORKER_GROUP
from bot.queue.streams import JobQueue
from tests.support.admission import admit
from worker.continuous_loop import ContinuousWorker
from worker.generators.text_lm import TextGenerator

ROUTE = "console:continuous-test"


def make_job(n: int, text: str, tokens: int | None = None) -> Job:
    origin = Origin(platform="console", route=ROUTE, delivery_id=f"cw-{n}", user_id="u")
    made = build_job(parse(text), origin)
    if tokens is None:
        return made
    assert made.text is not None
    return made.model_copy(update={"text": made.text.model_copy(update={"max_new_tokens": tokens})})


async def stream(queue: JobQueue) -> list[tuple[str, Result | Progress]]:
    """The result stream in order: ("result", Result) and ("progress", Progress) entries."""
    out: list[tuple[str, Result | Progress]] = []
    for _, fields in await queue.redis.xrange(queue.keys.results(ROUTE)):
        data = fields["data"]
        if fields["type"] == "result":
            out.append(("result", load_result(data)))
        else:
            out.append(("progress", Progress.model_validate_json(data)))
    return out


async def wait_for(queue: JobQueue, done: int = 0, progress_of: str = "", timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = await stream(queue)
        results = [e for kind, e in entries if kind == "result"]
        seen = any(kind == "progress" and e.job_id == progress_of for kind, e in entries)
        if (done and len(results) >= done) or (progress_of and seen):
            return entries
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting; stream so far: {await stream(queue)}")


async def test_a_job_arriving_mid_batch_joins_it_and_is_published_first(
    queue: JobQueue, endless_gpt2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Progress every 50 ms instead of every second, so that a fast machine, which finishes
    # the long job in about a second, still reports partial text on the way.
    monkeypatch.setattr("worker.decoding.batcher.PROGRESS_EVERY_S", 0.05)
    gen = TextGenerator(str(endless_gpt2), device="cpu")
    worker = ContinuousWorker(queue, [gen], batch_size=8, heartbeat_s=0.5, block_ms=100)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.ready.wait(), timeout=60)
    # Seed 4 runs to its full budget on this model (others sample end-of-text early).
    long = make_job(0, "/poem the longest river seed:4", tokens=1200)
    short = make_job(1, "/poem a bell seed:22", tokens=8)
    await admit(queue, long)
    await wait_for(queue, progress_of=long.id)  # the long job is generating
    await admit(queue, short)
    entries = await wait_for(queue, done=2)
    worker.stop()
    await asyncio.wait_for(task, timeout=60)

    results = [e for kind, e in entries if isinstance(e, Result)]
    assert [r.job_id for r in results] == [short.id, long.id]
    assert all(r.ok for r in results)
    # The short job did not wait for the long one: it finished well before it.
    assert results[0].finished_at < results[1].finished_at
    assert worker.batcher is not None and gen.generate_calls == 0  # never the static path
    # The short job, which joined a running batch, gives the same text as a static batch of
    # one with its seed (fp32). The long one is left out: over 1,200 tokens from a random
    # model's nearly flat distributions, the ~1e-6 logit noise of sharing a few steps with
    # another row eventually swaps two near-equal probabilities (test_continuous.py compares
    # jobs of up to 40 tokens).
    alone = TextGenerator(str(endless_gpt2), device="cpu")
    alone.load()
    [out] = alone.generate([short])
    assert results[0].text == out.text
    assert [r.provenance.seed for r in results if r.provenance] == [short.seed, long.seed]
    assert len(results[1].text) > len(results[0].text)
    # Progress streamed while the long job ran: rising fractions, then its partial text.
    mine = [e for kind, e in entries if isinstance(e, Progress) and e.job_id == long.id]
    fractions = [p.fraction for p in mine]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0
    assert len(mine) >= 3 and any(p.partial_text for p in mine), mine
    # A partial text is the job's own text so far (the last 1,500 characters; its last
    # token may be half a character).
    chunks = [p.partial_text[-24:-4] for p in mine if len(p.partial_text) > 24]
    assert chunks and all(chunk in results[1].text for chunk in chunks)
    # Everything acked: nothing left pending for this worker.
    pending = await queue.redis.xpending(queue.keys.jobs(long.kind), WORKER_GROUP)
    assert pending["pending"] == 0


class Flaky(TextGenerator):
    """The real generator, made to raise for a 'boom' prompt on either path."""

    def prompt_for(self, spec):  # type: ignore[no-untyped-def]
        if "boom" in spec.instruction or "boom" in spec.completion:
            raise RuntimeError("simulated generation crash")
        return super().prompt_for(spec)


async def test_a_failing_job_in_a_running_batch_is_isolated_and_dead_lettered(
    queue: JobQueue, tiny_gpt2: Path
) -> None:
    texts = ["/poem calm sea seed:1", "/poem boom seed:2", "/poem quiet hill seed:3"]
    jobs = [make_job(n, t, tokens=16) for n, t in enumerate(texts)]
    for job in jobs:
        await admit(queue, job)
    worker = ContinuousWorker(
        queue,
        [Flaky(str(tiny_gpt2), device="cpu")],
        batch_size=8,
        heartbeat_s=0.5,
        max_attempts=3,
        backoff_s=0.01,
        block_ms=100,
    )
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.ready.wait(), timeout=60)
    entries = await wait_for(queue, done=3)
    late = make_job(9, "/poem after the storm seed:4", tokens=16)
    await admit(queue, late)  # the loop survived: a later job still goes through it
    entries = await wait_for(queue, done=4)
    worker.stop()
    await asyncio.wait_for(task, timeout=60)

    results = {e.job_id: e for kind, e in entries if isinstance(e, Result)}
    assert results[jobs[0].id].ok and results[jobs[2].id].ok and results[late.id].ok
    failed = results[jobs[1].id]
    assert not failed.ok and "failed 3 times" in failed.error and failed.attempts == 3
    [(_, dead)] = await queue.dead_letters()
    assert json.loads(dead["data"])["job"]["id"] == jobs[1].id
    assert worker.batcher is not None and worker.batcher.steps > 0


async def test_other_kinds_keep_the_static_path_beside_continuous_text(
    queue: JobQueue, tiny_gpt2: Path
) -> None:
    from worker.generators.image_sketch import SketchGenerator

    text = make_job(0, "/poem a lantern seed:7", tokens=12)
    image = make_job(1, "/image a crimson lighthouse in fog seed:8")
    for job in (text, image):
        await admit(queue, job)
    gen = TextGenerator(str(tiny_gpt2), device="cpu")
    worker = ContinuousWorker(
        queue, [gen, SketchGenerator()], batch_size=4, concurrency=2, block_ms=100
    )
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.ready.wait(), timeout=60)
    entries = await wait_for(queue, done=2)
    worker.stop()
    await asyncio.wait_for(task, timeout=60)

    results = {e.job_id: e for kind, e in entries if isinstance(e, Result)}
    assert results[text.id].ok and results[image.id].ok
    assert len(results[image.id].attachments) == 1
    assert worker.batcher is not None and worker.batcher.steps > 0 and gen.generate_calls == 0


def test_the_cli_worker_batches_text_continuously_unless_told_otherwise(
    queue: JobQueue, tiny_gpt2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import _build_worker
    from bot.config import Settings
    from worker.loop import Worker

    monkeypatch.setenv("ATELIER_TEXT_MODEL", str(tiny_gpt2))
    settings = Settings()
    default = _build_worker(settings, queue, "text", 8, 1, None)
    static = _build_worker(settings, queue, "text", 8, 1, None, batching="static")
    assert type(default) is ContinuousWorker and type(static) is Worker
    with pytest.raises(ConfigError, match="use continuous or static"):
        _build_worker(settings, queue, "text", 8, 1, None, batching="rolling")
