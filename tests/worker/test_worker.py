"""The worker loop in-process, against a real Redis and tiny real transformers models:
batching, per-job seeds, failure isolation, dead letters, malformed entries, SIGTERM-style
stop."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.commands.poetic_forms import check
from bot.jobs import Job, JobKind, Origin, Result, load_result
from bot.queue import artifacts
from bot.queue.streams import JobQueue
from tests.support.admission import admit
from worker.generators.base import File, Output, ProgressFn
from worker.generators.text_lm import TextGenerator
from worker.loop import Worker

ROUTE = "console:worker-test"


def make_job(n: int, text: str) -> Job:
    origin = Origin(platform="console", route=ROUTE, delivery_id=f"w-{n}", user_id="u")
    return build_job(parse(text), origin)


async def wait_results(queue: JobQueue, count: int, timeout: float = 60) -> list[Result]:
    deadline = time.monotonic() + timeout
    while True:
        entries = await queue.redis.xrange(queue.keys.results(ROUTE))
        results = [load_result(f["data"]) for _, f in entries if f["type"] == "result"]
        if len(results) >= count or time.monotonic() > deadline:
            return results
        await asyncio.sleep(0.05)


async def run_worker(worker: Worker) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.ready.wait(), timeout=60)
    return task


async def stop(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await asyncio.wait_for(task, timeout=30)


async def test_sixteen_jobs_share_at_most_two_generate_calls_and_match_one_by_one(
    queue: JobQueue, tiny_gpt2: Path
) -> None:
    jobs = [make_job(n, f"/poem lantern {n} seed:{1000 + n} form:quatrain") for n in range(16)]
    for job in jobs:
        await admit(queue, job)
    gen = TextGenerator(str(tiny_gpt2), device="cpu")
    worker = Worker(queue, [gen], batch_size=16, heartbeat_s=0.5)
    task = await run_worker(worker)
    results = await wait_results(queue, 16)
    await stop(worker, task)

    assert len(results) == 16 and all(r.ok for r in results)
    assert gen.generate_calls <= 2
    assert len({r.provenance.batch_id for r in results if r.provenance}) <= 2
    assert max(r.provenance.batch_size for r in results if r.provenance) >= 8
    by_id = {r.job_id: r for r in results}
    # The same jobs generated one at a time, with the same seeds, give the same texts: each
    # job samples from its own seeded generator, whatever its batch mates (fp32 on CPU).
    alone = TextGenerator(str(tiny_gpt2), device="cpu")
    alone.load()
    for job in jobs:
        [out] = alone.generate([job])
        assert out.text == by_id[job.id].text, f"job {job.id} differs alone and batched"
    assert len({r.text for r in results}) > 1  # different seeds, different texts
    # Every quatrain says whether its form was met, and the claim agrees with the checker.
    for r in results:
        assert r.note.startswith("quatrain form")
        assert check("quatrain", r.text).ok == r.note.endswith(": met")
    first = by_id[jobs[0].id].provenance
    assert first is not None and first.seed == 1000 and first.settings["form"] == "quatrain"


async def test_chat_model_uses_its_template(queue: JobQueue, tiny_llama_chat: Path) -> None:
    gen = TextGenerator(str(tiny_llama_chat), device="cpu")
    gen.load()
    job = make_job(1, "/story a lighthouse keeper length:short seed:5")
    prompt = gen.prompt_for(job.text)  # type: ignore[arg-type]
    assert prompt.startswith("<|system|>") and prompt.endswith("<|assistant|>\n")
    assert "lighthouse keeper" in prompt
    await admit(queue, job)
    worker = Worker(queue, [gen], batch_size=4, heartbeat_s=0.5)
    task = await run_worker(worker)
    [result] = await wait_results(queue, 1)
    await stop(worker, task)
    assert result.ok and result.provenance and result.provenance.seed == 5


class Flaky(TextGenerator):
    """The real generator, made to raise on any batch holding a 'boom' prompt."""

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        if any("boom" in job.prompt for job in jobs):
            raise RuntimeError("simulated generation crash")
        return super().generate(jobs, progress)


async def test_a_failing_job_is_isolated_retried_then_dead_lettered(
    queue: JobQueue, tiny_gpt2: Path
) -> None:
    texts = ["/poem calm sea seed:1", "/poem boom seed:2", "/poem quiet hill seed:3"]
    jobs = [make_job(n, t) for n, t in enumerate(texts)]
    for job in jobs:
        await admit(queue, job)
    worker = Worker(
        queue,
        [Flaky(str(tiny_gpt2), device="cpu")],
        batch_size=8,
        heartbeat_s=0.5,
        max_attempts=3,
        backoff_s=0.01,
    )
    task = await run_worker(worker)
    results = {r.job_id: r for r in await wait_results(queue, 3)}
    # The loop survived: a new job after the failures is still served.
    late = make_job(9, "/poem after the storm seed:4")
    await admit(queue, late)
    results.update({r.job_id: r for r in await wait_results(queue, 4)})
    await stop(worker, task)

    assert results[jobs[0].id].ok and results[jobs[2].id].ok and results[late.id].ok
    failed = results[jobs[1].id]
    assert not failed.ok and "failed 3 times" in failed.error and failed.attempts == 3
    [(_, dead)] = await queue.dead_letters()
    record = json.loads(dead["data"])
    assert record["job"]["id"] == jobs[1].id and record["attempts"] == 3
    assert (await queue.state(jobs[1].id))["state"] == "dead"


async def test_malformed_entries_go_to_dead_letters_and_the_loop_lives(
    queue: JobQueue, tiny_gpt2: Path
) -> None:
    await queue.ensure_group(JobKind.TEXT)
    stream = queue.keys.jobs(JobKind.TEXT)
    await queue.redis.xadd(stream, {"job": "{not json"})
    await queue.redis.xadd(stream, {"something": "else"})
    await queue.redis.xadd(stream, {"job": json.dumps({"v": 99, "id": "x"})})
    good = make_job(1, "/poem still here seed:8")
    await admit(queue, good)
    worker = Worker(queue, [TextGenerator(str(tiny_gpt2), device="cpu")], heartbeat_s=0.5)
    task = await run_worker(worker)
    [result] = await wait_results(queue, 1)
    await stop(worker, task)
    assert result.ok and result.job_id == good.id
    dead = await queue.dead_letters()
    assert len(dead) == 3
    assert all("malformed job" in json.loads(f["data"])["reason"] for _, f in dead)
    assert await queue.redis.xlen(stream) == 0  # acked and removed


class WithTextFile(TextGenerator):
    """The real generator, also attaching each poem as a text file."""

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        outputs = super().generate(jobs, progress)
        for out in outputs:
            out.files.append(File("poem.txt", "text/plain", out.text.encode() + b"\xff"))
        return outputs


async def test_files_travel_with_the_result(queue: JobQueue, tiny_gpt2: Path) -> None:
    job = make_job(1, "/poem the sea seed:3")
    await admit(queue, job)
    worker = Worker(queue, [WithTextFile(str(tiny_gpt2), device="cpu")], heartbeat_s=0.5)
    task = await run_worker(worker)
    [result] = await wait_results(queue, 1)
    await stop(worker, task)
    [attachment] = result.attachments
    assert attachment.filename == "poem.txt" and attachment.content_type == "text/plain"
    data = await artifacts.fetch(queue.redis, attachment)
    assert data == result.text.encode() + b"\xff"  # bytes, not text, survive the round trip
    assert 0 < await queue.redis.ttl(attachment.key) <= queue.job_ttl_s
    await queue.redis.delete(attachment.key)
    assert await artifacts.fetch(queue.redis, attachment) is None  # expired: None, no error


async def test_a_result_with_a_moderation_word_of_its_server_is_withheld(
    queue: JobQueue, tiny_gpt2: Path
) -> None:
    from bot.desk.server_settings import SettingsStore

    plain = make_job(1, "/poem the sea seed:5")
    gen = TextGenerator(str(tiny_gpt2), device="cpu")
    gen.load()
    [piece] = gen.generate([plain])
    assert piece.text
    ends = [w.strip(".,;:!?'\"") for w in piece.text.split()]
    words = [w for w in ends if re.fullmatch(r"[A-Za-z]{3,40}", w)]
    word = max(words, key=len).lower()  # a word it is sure to write
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set(plain.origin.platform, "g1", "moderation_words", word)
    here = plain.model_copy(
        update={"id": "m" * 24, "origin": plain.origin.model_copy(update={"guild_id": "g1"})}
    )
    elsewhere = plain.model_copy(
        update={"id": "n" * 24, "origin": plain.origin.model_copy(update={"guild_id": "g2"})}
    )
    for job in (here, elsewhere):
        await admit(queue, job)
    worker = Worker(queue, [TextGenerator(str(tiny_gpt2), device="cpu")], heartbeat_s=0.5)
    task = await run_worker(worker)
    results = {r.job_id: r for r in await wait_results(queue, 2)}
    await stop(worker, task)
    assert not results[here.id].ok and f"contains '{word}'" in results[here.id].error
    assert results[here.id].text == ""  # the piece itself is not published
    assert results[elsewhere.id].ok and results[elsewhere.id].text == piece.text


async def test_a_job_for_another_model_gets_a_clear_error(queue: JobQueue, tiny_gpt2: Path) -> None:
    """A server whose settings name a model this worker does not serve gets told so."""
    other = make_job(1, "/poem the sea seed:3").model_copy(update={"model": "org/other"})
    mine = make_job(2, "/poem the sea seed:3").model_copy(update={"model": str(tiny_gpt2)})
    for job in (other, mine):
        await admit(queue, job)
    worker = Worker(queue, [TextGenerator(str(tiny_gpt2), device="cpu")], heartbeat_s=0.5)
    task = await run_worker(worker)
    results = {r.job_id: r for r in await wait_results(queue, 2)}
    await stop(worker, task)
    assert not results[other.id].ok and "'org/other'" in results[other.id].error
    assert "key:text_model value:default" in results[other.id].error
    assert results[mine.id].ok and results[mine.id].text


@pytest.mark.timeout(120)
async def test_stop_finishes_the_batch_in_hand(queue: JobQueue, endless_gpt2: Path) -> None:
    jobs = [make_job(n, f"/story long road {n} length:short seed:{n}") for n in range(2)]
    for job in jobs:
        await admit(queue, job)
    worker = Worker(
        queue, [TextGenerator(str(endless_gpt2), device="cpu")], batch_size=4, heartbeat_s=0.5
    )
    task = await run_worker(worker)
    # Wait until generation has started (the first progress event), then ask it to stop.
    deadline = time.monotonic() + 30
    while not await queue.redis.xlen(queue.keys.results(ROUTE)):
        assert time.monotonic() < deadline, "no progress event"
        await asyncio.sleep(0.01)
    worker.stop()
    await asyncio.wait_for(task, timeout=60)
    results = await wait_results(queue, 2, timeout=1)
    assert len(results) == 2 and all(r.ok for r in results)
    assert await queue.workers_alive(JobKind.TEXT) == 0  # retired on the way out
