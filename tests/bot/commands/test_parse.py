"""The command parser and catalogue: pure, no IO."""

from __future__ import annotations

import pytest

from bot.commands.catalogue import CATALOGUE, MAX_PROMPT_CHARS
from bot.commands.parse import parse
from bot.errors import UserError


def test_prompt_words_and_options() -> None:
    inv = parse('/poem the sea at dusk form:haiku mood:"very calm" seed:42')
    assert inv.path == ("poem",)
    assert inv.prompt == "the sea at dusk"
    assert inv.options["form"] == "haiku"
    assert inv.options["mood"] == "very calm"
    assert inv.options["seed"] == 42
    assert inv.options["temperature"] == 0.9  # default filled in
    assert inv.given == {"form", "mood", "seed"}


def test_typographic_quotes_apostrophes_and_urls_stay_prompt() -> None:
    inv = parse("/story the sea’s edge, see https://example.org/x mood:“quietly odd” pov:first")
    assert inv.prompt == "the sea’s edge, see https://example.org/x"
    assert inv.options["mood"] == "quietly odd"
    assert inv.options["pov"] == "first"


def test_choices_are_case_insensitive_and_numbers_typed() -> None:
    inv = parse("/script two rivals FORMAT:Dialogue characters:3 temperature:1.2")
    assert inv.options == {**inv.options, "format": "dialogue", "characters": 3, "temperature": 1.2}


def test_atelier_prefix_reaches_any_command_and_help_alias() -> None:
    assert parse("/atelier poem the moon").path == ("poem",)
    assert parse("/help").path == ("atelier", "help")
    assert parse("/help poem").prompt == "poem"
    assert parse("/atelier").path == ("atelier", "help")
    assert parse("/atelier status").path == ("atelier", "status")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/sing a song", "Unknown command /sing. Commands: poem, story"),
        ("/poem the sea colour:blue", "Unknown option 'colour' for /poem. Options: form, mood"),
        ("/poem the sea form:ode", "must be one of free, haiku"),
        ("/poem the sea seed:-1", "must be a whole number from 0 to 4294967295"),
        ("/poem the sea temperature:9", "must be a number from 0.1 to 1.5"),
        ("/poem the sea temperature:warm", "must be a number from 0.1 to 1.5"),
        ("/script a duel characters:7", "must be a whole number from 1 to 6"),
        ("/poem", "/poem needs the topic of the poem"),
        ("/poem    form:haiku", "/poem needs the topic of the poem"),
        ("/poem the sea form:haiku form:sonnet", "given twice"),
        ('/poem the sea mood:"calm', "never closes"),
        ("poem the sea", "Commands start with '/'"),
        ("/", "Type a command after '/'"),
        ("/challenge vote entry:0", "must be a whole number from 1 to 25"),
        ("/challenge", "Missing subcommand for /challenge"),
        ("/atelier status now", "/atelier status takes no text"),
    ],
)
def test_bad_input_gets_one_line_that_says_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(UserError) as err:
        parse(text)
    message = str(err.value)
    assert says in message
    assert "\n" not in message


def test_prompt_length_limit() -> None:
    at_limit = "a" * MAX_PROMPT_CHARS
    assert parse(f"/poem {at_limit}").prompt == at_limit
    with pytest.raises(UserError, match=f"{MAX_PROMPT_CHARS + 1} characters; the limit is"):
        parse(f"/poem {at_limit}b")


def test_catalogue_is_complete_and_consistent() -> None:
    names = {c.name for c in CATALOGUE}
    assert names == {
        "poem",
        "story",
        "script",
        "image",
        "melody",
        "inspire",
        "brainstorm",
        "collab",
        "challenge",
        "gallery",
        "style",
        "atelier",
    }
    for cmd in CATALOGUE:
        assert cmd.help
        for opt in cmd.options:
            assert opt.help, f"/{cmd.name} {opt.name} has no help"
            if opt.type == "choice":
                assert opt.choices and (opt.default is None or opt.default in opt.choices)
            if opt.type in ("int", "float"):
                assert opt.min is not None and opt.max is not None and opt.min < opt.max
        if cmd.kind is not None and cmd.available:
            assert any(o.name == "seed" for o in cmd.options), f"/{cmd.name} has no seed"


def test_a_command_a_deployment_lacks_says_so() -> None:
    lacks_melody = lambda c: c.name != "melody"  # noqa: E731  (a deployment without music)
    with pytest.raises(UserError, match="/melody is not available yet on this deployment"):
        parse("/melody a jig", is_available=lacks_melody)
    assert parse("/poem a jig", is_available=lacks_melody).name == "poem"
