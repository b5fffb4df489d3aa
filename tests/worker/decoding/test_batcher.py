"""The continuous-batching scheduler on tiny real models (fp32, CPU): rows join a running
batch and leave it, and a job's text does not depend on when it joined."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.commands.poetic_forms import check
from bot.jobs import Job, Origin
from worker.decoding.batcher import ContinuousBatcher, supports
from worker.generators.base import Output
from worker.generators.text_lm import TextGenerator
from worker.models import bundled_poet


def job(n: int, text: str, tokens: int | None = None) -> Job:
    made = build_job(parse(text), Origin(platform="console", route="r", delivery_id=f"c-{n}"))
    if tokens is None:
        return made
    assert made.text is not None
    return made.model_copy(update={"text": made.text.model_copy(update={"max_new_tokens": tokens})})


def run(batcher: ContinuousBatcher, joins: dict[int, list[Job]]) -> dict[str, tuple[Output, int]]:
    """Step until every job is answered; `joins` adds jobs before the given step. Returns
    each job's output and the step that finished it."""
    done: dict[str, tuple[Output, int]] = {}
    step = 0
    while step <= max(joins) or not batcher.idle:
        for answered, out in batcher.add(joins.get(step, [])):
            done[answered.id] = (out, step)
        if batcher.idle:
            step += 1
            continue
        result = batcher.step()
        step += 1
        for finished, out in result.finished:
            done[finished.id] = (out, step)
    return done


@pytest.fixture(scope="module", params=["gpt2", "llama-chat"])
def gen(request: pytest.FixtureRequest) -> Iterator[TextGenerator]:
    model = request.getfixturevalue("tiny_gpt2" if request.param == "gpt2" else "tiny_llama_chat")
    made = TextGenerator(str(model), device="cpu")
    made.load()
    assert supports(made)
    yield made


def test_a_job_gives_the_same_text_alone_in_a_static_batch_and_joining_mid_flight(
    gen: TextGenerator,
) -> None:
    jobs = [
        job(0, "/poem the long road home seed:11", tokens=40),
        job(1, "/poem rain on tin seed:12", tokens=12),
        job(2, "/poem the moon form:haiku seed:13"),  # a form: two candidate rows, guided
        job(3, "/poem a kettle seed:14", tokens=20),
    ]
    static = gen.generate(jobs)
    alone = {j.id: run(ContinuousBatcher(gen), {0: [j]})[j.id][0] for j in jobs}
    # The long job starts alone; the others join it at steps 5, 9 and 9.
    mixed = run(ContinuousBatcher(gen), {0: [jobs[0]], 5: [jobs[1]], 9: jobs[2:]})
    for j, out in zip(jobs, static, strict=True):
        assert alone[j.id].text == out.text, f"{j.prompt}: continuous alone differs from static"
        assert mixed[j.id][0].text == out.text, f"{j.prompt}: differs after joining mid-flight"
        assert mixed[j.id][0].settings == out.settings and mixed[j.id][0].note == out.note
    assert len({o.text for o in static}) == len(jobs)  # different seeds, different texts
    assert static[2].settings["candidates"] == 2


def test_a_short_job_that_arrives_later_finishes_first_and_leaves_the_cache(
    gen: TextGenerator,
) -> None:
    long, short = job(0, "/poem an endless river seed:3", 48), job(1, "/poem a bell seed:4", 6)
    batcher = ContinuousBatcher(gen)
    batcher.add([long])
    for _ in range(10):
        batcher.step()
    batcher.add([short])
    finished: list[str] = []
    rows = []
    while not batcher.idle:
        finished += [j.id for j, _ in batcher.step().finished]
        rows.append(len(batcher.rows))
    assert finished == [short.id, long.id]
    # Both ran side by side, then the short job's row left and the long one went on alone.
    assert rows[0] == 2 and rows[-1] == 0
    assert rows.index(1) == 5 and all(n == 1 for n in rows[5:-1])  # its 6 tokens, 6 steps
    assert batcher.steps == 10 + len(rows)


def test_finished_rows_are_cut_out_of_the_cache(gen: TextGenerator) -> None:
    """After the short row leaves, the cache keeps one row and drops the columns that only
    held the short row's tokens (they were longer than the long row's left padding)."""
    long = job(0, "/poem sea seed:5", 30)
    short = job(1, "/poem a much longer prompt about the lantern in the rain seed:6", 4)
    batcher = ContinuousBatcher(gen)
    batcher.add([long, short])
    batcher.step()
    assert batcher.mask.shape[0] == 2 and int(batcher.mask[0].eq(0).sum()) > 0
    while len(batcher.rows) == 2:
        batcher.step()
    assert len(batcher.rows) == 1
    assert bool(batcher.mask.all()), "padding columns stayed after the row that needed them"
    for layer in batcher.cache.layers:
        assert layer.keys.shape[0] == 1 and layer.keys.shape[2] == batcher.mask.shape[1]
    while not batcher.idle:
        batcher.step()
    assert batcher.cache is None


def test_a_prompt_longer_than_the_context_is_cut_not_the_answer(
    gen: TextGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits, too_long = job(0, "/poem sea seed:1", 8), job(1, "/poem " + "lantern " * 60 + "seed:1", 8)
    assert too_long.text is not None
    prompt = gen.tokenizer(gen.prompt_for(too_long.text), add_special_tokens=not gen.use_chat)
    # A context window that holds the short prompt and its answer, but not the long prompt.
    monkeypatch.setattr(gen, "context", len(prompt.input_ids) // 2 + 8)
    batcher = ContinuousBatcher(gen)
    assert batcher.add([fits, too_long]) == []
    assert [j.id for j in batcher.jobs] == [fits.id, too_long.id]
    assert [r.budget for f in batcher.waiting for r in f.rows] == [8, 8]  # as asked
    assert len(batcher.waiting[1].rows[0].prompt) == gen.context - 8


@pytest.fixture(scope="module")
def poet() -> TextGenerator:
    path = bundled_poet()
    assert path is not None
    made = TextGenerator(str(path), device="cpu", candidates=2)
    made.load()
    return made


def test_haiku_through_the_continuous_path_meet_the_form_as_often_as_static(
    poet: TextGenerator,
) -> None:
    jobs = [job(s, f"/poem the sea at dusk form:haiku seed:{s}") for s in range(8)]
    static = poet.generate(jobs)
    # Half start together, the rest join three steps later.
    continuous = run(ContinuousBatcher(poet), {0: jobs[:4], 3: jobs[4:]})
    static_met = [check("haiku", out.text).ok for out in static]
    continuous_met = [check("haiku", continuous[j.id][0].text).ok for j in jobs]
    assert sum(continuous_met) == sum(static_met) == len(jobs)
    for j, out in zip(jobs, static, strict=True):
        mine = continuous[j.id][0]
        assert mine.text == out.text and mine.note == "haiku form checked: met"
