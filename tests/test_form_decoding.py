"""Form-keeping decoding with a tiny real model: the masks shape line count, syllables and
acrostic initials, and leave free verse alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.forms import line_syllables
from bot.jobs import Job, Origin
from bot.parse import parse
from bot.service import build_job
from worker.form_decoding import FormPlan, plan_for
from worker.generators.text import TextGenerator


def poem(text: str, n: int = 1) -> Job:
    return build_job(parse(text), Origin(platform="console", route="r", delivery_id=f"f-{n}"))


@pytest.fixture(scope="module")
def generator(tiny_gpt2: Path) -> TextGenerator:
    gen = TextGenerator(str(tiny_gpt2), device="cpu")
    gen.load()
    return gen


def test_plans() -> None:
    assert plan_for("haiku", "the sea") == FormPlan(3, ((5, 5), (7, 7), (5, 5)))
    assert plan_for("sonnet", "love") == FormPlan(14, ((8, 12),) * 14)
    acrostic = plan_for("acrostic", "moon over water")
    assert acrostic is not None and acrostic.lines == 4 and acrostic.initials == "MOON"
    assert plan_for("free", "x") is None


def test_haiku_rows_get_three_lines_that_reach_their_syllable_targets(
    generator: TextGenerator,
) -> None:
    jobs = [poem(f"/poem the sea form:haiku seed:{s}", s) for s in range(6)]
    for _job, out in zip(jobs, generator.generate(jobs), strict=True):
        lines = out.text.split("\n")
        assert len(lines) == 3, out.text
        # A line break never comes before the target; a last token may overshoot it.
        assert [line_syllables(x) >= t for x, t in zip(lines, (5, 7, 5), strict=True)] == [
            True,
            True,
            True,
        ], out.text
        assert out.note.startswith("haiku form")


def test_acrostic_lines_start_with_their_letters(generator: TextGenerator) -> None:
    [out] = generator.generate([poem("/poem moon over water form:acrostic seed:4")])
    lines = out.text.split("\n")
    assert [line.lstrip()[:1].upper() for line in lines] == list("MOON"), out.text


def test_line_count_forms_end_after_their_last_line(generator: TextGenerator) -> None:
    outs = generator.generate(
        [poem("/poem rain form:couplet seed:1", 1), poem("/poem rain form:quatrain seed:2", 2)]
    )
    assert [len(o.text.split("\n")) for o in outs] == [2, 4]
