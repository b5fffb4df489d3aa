"""Long prompts give way, never the answer: a 1,000-character premise is cut in the middle to
fit the context beside the asked number of new tokens (tiny real models, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Job, Origin
from worker.decoding.batcher import ContinuousBatcher
from worker.generators.text_lm import KEEP_END, MIN_PROMPT, TextGenerator, fit_prompt

PREMISE = (
    "A lighthouse keeper on a northern island finds that the lamp answers back in long and "
    "short flashes from a ship that sank a hundred years ago, and the messages grow stranger "
    "each night as the winter storms close in around the rocks and the supply boat stops "
) * 3
PREMISE = PREMISE[:1000]


def job(n: int, text: str, tokens: int | None = None) -> Job:
    made = build_job(parse(text), Origin(platform="console", route="r", delivery_id=f"l-{n}"))
    if tokens is None:
        return made
    assert made.text is not None
    return made.model_copy(update={"text": made.text.model_copy(update={"max_new_tokens": tokens})})


def test_fit_prompt_cuts_the_middle_of_the_prompt_not_the_answer() -> None:
    ids = list(range(300))
    assert fit_prompt(ids[:50], 100, 200) == (ids[:50], 100)  # fits: untouched
    cut, budget = fit_prompt(ids, 120, 200)
    assert budget == 120 and len(cut) == 80
    assert cut[:56] == ids[:56] and cut[-KEEP_END:] == ids[-KEEP_END:]  # start and end kept
    # Only an answer that cannot fit beside a minimal prompt gives way, and only so far.
    cut, budget = fit_prompt(ids, 1024, 256)
    assert budget == 256 - MIN_PROMPT and len(cut) == MIN_PROMPT and cut[-1] == ids[-1]


@pytest.fixture(scope="module")
def endless(endless_gpt2: Path) -> TextGenerator:
    gen = TextGenerator(str(endless_gpt2), device="cpu")
    gen.load()
    gen.context = 160  # a small window, so the premise alone overflows it
    return gen


def test_a_long_premise_keeps_the_asked_length(endless: TextGenerator) -> None:
    story = job(0, f"/story {PREMISE} length:long seed:3", tokens=100)
    assert story.text is not None
    assert len(endless.tokenizer(endless.prompt_for(story.text)).input_ids) > endless.context
    before = endless.generated_tokens
    [alone] = endless.generate([story])
    assert endless.generated_tokens - before == 100  # every asked token (this model never stops)
    assert alone.settings["max_new_tokens"] == 100 and len(alone.text) > 100
    # The same seed gives the same text batched beside a short job, and continuously batched.
    short = job(1, "/story a kettle seed:4", tokens=100)
    together = endless.generate([short, story])
    assert together[1].text == alone.text and together[1].settings == alone.settings
    batcher = ContinuousBatcher(endless)
    assert batcher.add([story]) == []
    assert [r.budget for r in batcher.waiting[0].rows] == [100]
    while not batcher.idle:
        for finished, out in batcher.step().finished:
            assert finished.id == story.id and out.text == alone.text


def test_a_sonnet_on_a_long_premise_gets_its_full_budget(tiny_gpt2: Path) -> None:
    gen = TextGenerator(str(tiny_gpt2), device="cpu", candidates=1)
    gen.load()
    gen.context = 400  # the 1,000 characters (~300 tokens here) and 320 new tokens overflow it
    sonnet = job(2, f"/poem {PREMISE} form:sonnet seed:5")
    assert sonnet.text is not None and sonnet.text.max_new_tokens == 320
    [out] = gen.generate([sonnet])
    assert out.settings["max_new_tokens"] == 320
