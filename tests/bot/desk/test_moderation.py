"""The built-in moderation list and its matching, pure functions: whole words of normalised
text (case, accents, leetspeak, spaced-out letters), the categories, what the user and the
moderators are told."""

from __future__ import annotations

import pytest

from bot.desk.blocklist import HARD, MINORS, SEXUAL_WORDS
from bot.desk.moderation import (
    BUILTIN,
    SERVER,
    Flag,
    builtin_flag,
    find_term,
    note_text,
    refusal_text,
    screen_prompt,
    screen_result,
    withheld_text,
)
from bot.jobs import Origin


@pytest.mark.parametrize(
    "prompt",
    ["LOLICON art", "l0licon", "L.O.L.I.C.O.N", "s h o t a c o n", "lolllicon", "Jailbait"],
)
def test_minors_terms_are_found_through_case_leetspeak_and_spacing(prompt: str) -> None:
    flag = builtin_flag(prompt)
    assert flag is not None and flag.category == MINORS


@pytest.mark.parametrize(
    "prompt",
    ["a naked child", "NUDE photos of a young child", "s3xy teen", "toddler, n.u.d.e", "lewd loli"],
)
def test_a_child_word_near_a_sexual_word_is_the_minors_category(prompt: str) -> None:
    flag = builtin_flag(prompt)
    assert flag is not None and flag.category == MINORS


@pytest.mark.parametrize(
    "prompt",
    [
        "children playing in the snow",
        "Essex sextant at the museum",  # terms never match inside longer words
        "the lollipop shop",
        "a study of 1990s skateboards",
        "wow! what a sunset",
    ],
)
def test_ordinary_prompts_pass(prompt: str) -> None:
    assert builtin_flag(prompt, image_strict=True) is None


def test_a_child_and_a_sexual_word_in_different_lines_of_a_poem_pass() -> None:
    assert builtin_flag("a child.\nThe trees stand naked in the winter wind") is None
    assert builtin_flag("a child. The trees stand naked in the wind") is None


def test_names_that_are_also_list_words_pass_alone() -> None:
    assert builtin_flag("a portrait of Shota by the river") is None
    assert builtin_flag("Loli and her grandmother bake bread") is None


def test_extreme_phrases_match_as_phrases() -> None:
    flag = builtin_flag("a poster for a Snuff   Film")
    assert flag == Flag(BUILTIN, "extreme", "snuff film")
    assert builtin_flag("a film about snuff boxes") is None


def test_sexual_words_only_count_for_strict_image_prompts() -> None:
    assert builtin_flag("a nude figure study") is None
    flag = builtin_flag("a nüde figure study", image_strict=True)  # accents fold away
    assert flag is not None and flag.category == "sexual" and flag.term == "nude"
    assert builtin_flag("$ex on the beach", image_strict=True) is not None


def test_every_list_term_is_found_by_itself() -> None:
    for terms in HARD.values():
        for term in terms:
            assert find_term(f"see {term.upper()} here", terms) == term
    for term in SEXUAL_WORDS:
        assert builtin_flag(term, image_strict=True) is not None, term


def test_server_words_come_after_the_built_in_list_and_match_whole_words() -> None:
    words = ("gloom", "rust-bucket")
    assert screen_prompt("a RUST-BUCKET at dawn", words) == Flag(SERVER, term="rust-bucket")
    assert screen_prompt("the gloomy sea", words) is None
    assert screen_prompt("gl00m", words) == Flag(SERVER, term="gloom")
    built_in = screen_prompt("gloom and bestiality", words)
    assert built_in is not None and built_in.source == BUILTIN
    assert screen_result("a poem about l0licons", ()) is None  # another word
    assert screen_result("a poem about lolicon", ()) is not None


def test_the_user_is_told_why_and_what_to_do() -> None:
    minors = refusal_text(Flag(BUILTIN, MINORS, "lolicon"))
    assert minors.startswith("Your prompt was refused: it matches the built-in list")
    assert "sexual content involving minors" in minors and "Rephrase it" in minors
    assert "lolicon" not in minors
    strict = refusal_text(Flag(BUILTIN, "sexual", "nude"))
    assert "image_safety: strict" in strict and "/atelier settings key:image_safety" in strict
    word = withheld_text(Flag(SERVER, term="gloom"))
    assert "withheld" in word and "'gloom'" in word and "Regenerate" in word


def test_moderator_notes_clip_the_excerpt_and_leave_it_out_for_minors() -> None:
    origin = Origin(
        platform="discord",
        route="discord",
        user_id="42",
        user_name="alice",
        guild_id="g1",
        delivery_id="d1",
    )
    long = "a very long prompt about gloom " * 10
    note = note_text(origin, "poem", "refused a prompt", Flag(SERVER, term="gloom"), long)
    assert note.startswith("Atelier refused a prompt: /poem by alice (42).")
    assert "this server's moderation word 'gloom'" in note
    excerpt = note.split("Excerpt: ")[1]
    assert len(excerpt) <= 42 and excerpt.endswith("…”")
    hidden = note_text(origin, "image", "refused a prompt", Flag(BUILTIN, MINORS), "l0licon art")
    assert "Excerpt" not in hidden and "l0licon" not in hidden and "involving minors" in hidden
