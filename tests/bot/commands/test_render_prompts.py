"""Prompt building, job building and rendering: pure, no IO."""

from __future__ import annotations

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.commands.poetic_forms import verdict
from bot.commands.prompts import POEM_FORMS, build_text_spec
from bot.commands.render import help_text, provenance_line, queued_text, render_result
from bot.jobs import Origin, Provenance, Result

ORIGIN = Origin(platform="console", route="console:t", delivery_id="t:1")


def test_poem_prompt_carries_form_mood_and_budget() -> None:
    spec = build_text_spec(
        "poem", "the sea", {"form": "haiku", "mood": "calm", "length": "long", "temperature": 0.7}
    )
    assert "haiku" in spec.instruction and "five, seven and five" in spec.instruction
    assert "calm" in spec.instruction and "“the sea”" in spec.instruction
    assert spec.completion.startswith("A haiku about the sea (calm)")
    assert spec.max_new_tokens == POEM_FORMS["haiku"][1]
    assert spec.temperature == 0.7
    free = build_text_spec("poem", "x", {"form": "free", "length": "long"})
    assert (
        free.max_new_tokens
        > build_text_spec("poem", "x", {"form": "free", "length": "short"}).max_new_tokens
    )


def test_story_and_script_prompts() -> None:
    story = build_text_spec(
        "story", "a fox finds a key", {"genre": "mystery", "pov": "first", "length": "short"}
    )
    assert "short mystery story" in story.instruction and "first person" in story.instruction
    script = build_text_spec(
        "script", "a duel", {"format": "dialogue", "characters": 3, "length": "medium"}
    )
    assert "3 characters" in script.instruction and script.completion.startswith("DIALOGUE:")


def test_job_id_follows_delivery_and_seed_is_kept() -> None:
    inv = parse("/poem the sea seed:42")
    one, two = build_job(inv, ORIGIN), build_job(inv, ORIGIN)
    assert one.id == two.id and one.seed == 42 and "seed" not in one.options
    other = build_job(inv, ORIGIN.model_copy(update={"delivery_id": "t:2"}))
    assert other.id != one.id
    unseeded = [build_job(parse("/poem x"), ORIGIN).seed for _ in range(5)]
    assert len(set(unseeded)) > 1  # a fresh random seed each time it is not given


def test_provenance_line_names_model_seed_settings_and_time() -> None:
    prov = Provenance(
        model="/tmp/models/poet",
        generator="transformers",
        seed=7,
        settings={"form": "haiku", "mood": "very calm", "temperature": 0.9},
        duration_s=1.25,
        batch_size=4,
        device="cpu",
    )
    line = provenance_line(prov)
    assert line == (
        'made with poet (transformers) · seed 7 · form=haiku, mood="very calm", '
        "temperature=0.9 · 1.2 s on cpu, batch of 4"
    )
    ok = render_result(
        Result(
            job_id="j" * 8,
            ok=True,
            command="poem",
            prompt="the sea",
            text="  waves\n",
            provenance=prov,
            origin=ORIGIN,
        )
    )
    assert (ok.title, ok.body, ok.footer, ok.error) == ("/poem the sea", "waves", line, False)
    bad = render_result(
        Result(
            job_id="j" * 8, ok=False, command="poem", prompt="x", error="it broke", origin=ORIGIN
        )
    )
    assert bad.error and bad.body == "it broke"


def test_form_verdict_is_claimed_only_when_checked() -> None:
    haiku = "an old silent pond\na frog jumps into the pond\nsplash! silence again"
    assert verdict("poem", {"form": "haiku"}, "the pond", haiku) == (
        True,
        "haiku form checked: met",
    )
    met, note = verdict("poem", {"form": "haiku"}, "the pond", "one line only")
    assert met is False and note.startswith("haiku form not met: ")
    assert verdict("poem", {"form": "free"}, "x", "anything") == (None, "")
    assert verdict("story", {"form": "haiku"}, "x", "anything") == (None, "")
    assert verdict("poem", {"form": "villanelle"}, "x", "no checker yet") == (None, "")


def test_queue_and_help_texts() -> None:
    assert queued_text(3, 2) == "queued, #3 in line, 2 workers online"
    assert queued_text(0, 1) == "generating now, 1 worker online"
    assert "no worker online yet" in queued_text(1, 0)
    assert "/poem" in help_text() and "/inspire" in help_text()
    detail = help_text("poem")
    assert "form:" in detail and "haiku" in detail and "example:" in detail
