"""The Discord adapter's pure parts: commands built from the catalogue, messages within
Discord's limits, autocomplete, the Remix form's data, secrets kept out of logs."""

from __future__ import annotations

import logging

import discord
import pytest
from discord import app_commands

from adapters.discord.commands import build_commands, suggestions
from adapters.discord.logs import RedactSecrets, redact
from adapters.discord.messages import (
    ATTACHED_NOTE,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    progress_message,
    result_message,
)
from adapters.discord.views import REMIX_FORM, ActionButton, remix_submit, result_view
from bot.commands.catalogue import CATALOGUE
from bot.config import Settings
from bot.jobs import Origin, Progress, Provenance, Result

ORIGIN = Origin(platform="discord", route="discord", delivery_id="1", user_id="42")


def result(text: str, ok: bool = True) -> Result:
    return Result(
        job_id="a" * 24,
        ok=ok,
        command="poem",
        prompt="the sea",
        text=text,
        error="" if ok else "The model ran out of memory; try a shorter piece.",
        provenance=Provenance(model="/models/poet", generator="transformers", seed=7),
        origin=ORIGIN,
    )


async def noop(*_: object) -> None:
    return None


async def test_every_available_catalogue_command_and_option_is_registered() -> None:
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    for command in build_commands(noop):
        tree.add_command(command)
    built = {c.name: c.to_dict(tree) for c in tree.get_commands()}
    expected = {c.name for c in CATALOGUE if c.available}
    assert set(built) == expected
    for cmd in CATALOGUE:
        if not cmd.available or cmd.subcommands:
            continue
        options = {o["name"]: o for o in built[cmd.name]["options"]}
        prompt = {"prompt"} if cmd.prompt else set()
        assert set(options) == {*prompt, *(o.name for o in cmd.options)}
        for opt in cmd.options:
            spec = options[opt.name]
            assert spec["required"] is False
            if opt.choices:
                assert [c["value"] for c in spec["choices"]] == list(opt.choices)
            if opt.type in ("int", "float"):
                assert (spec["min_value"], spec["max_value"]) == (opt.min, opt.max)
            if opt.suggestions:
                assert spec["autocomplete"] is True
            if opt.default is not None:
                assert "(default " in spec["description"]
    atelier = {o["name"] for o in built["atelier"]["options"]}
    assert atelier == {"help", "status", "settings"}


def test_suggestions_keep_what_was_typed_and_match_the_catalogue() -> None:
    words = ("calm", "joyful", "melancholy", "nostalgic")
    assert suggestions(words, "") == list(words)
    assert suggestions(words, "ca") == ["ca", "calm"]
    assert suggestions(words, "CALM") == ["calm"]
    assert suggestions(words, "ol") == ["ol", "melancholy"]


def test_a_result_fits_an_embed_with_its_provenance() -> None:
    out = result_message(result("Waves fold\nover stones"))
    assert out.embed is not None and out.content is None and out.file() is None
    assert out.embed.description == "Waves fold\nover stones"
    assert out.embed.footer.text is not None and "made with poet" in out.embed.footer.text


@pytest.mark.parametrize("length", [DESCRIPTION_LIMIT + 1, 20_000])
def test_overlong_text_goes_whole_into_a_file_and_the_embed_says_so(length: int) -> None:
    text = ("word " * length)[:length]
    out = result_message(result(text))
    assert out.embed is not None and out.embed.description is not None
    assert out.embed.description.endswith(ATTACHED_NOTE)
    assert len(out.embed) <= EMBED_TOTAL_LIMIT
    file = out.file()
    assert file is not None and file.filename == "poem-aaaaaaaa.txt"
    assert file.fp.read().decode() == text.strip() + "\n"


def test_an_error_result_and_a_late_result_mention_only_the_requester() -> None:
    failed = result_message(result("", ok=False))
    assert failed.embed is None and failed.content is not None
    assert "ran out of memory" in failed.content
    late = result_message(result("Hello"), mention="42")
    assert late.content is not None and late.content.startswith("<@42> ")


def test_progress_shows_the_end_of_long_partial_text() -> None:
    progress = Progress(job_id="a" * 24, fraction=0.5, partial_text="x" * 5000, origin=ORIGIN)
    text = progress_message("/poem the sea", progress)
    assert len(text) <= 2000 and "generating 50%" in text and text.endswith("x" * 100)


async def test_buttons_carry_action_and_job_id() -> None:
    ids = [item.custom_id for item in result_view("b" * 24, "poem").children]  # type: ignore[attr-defined]
    actions = ("regen", "vary", "remix", "delete", "illustrate", "score")
    assert ids == [f"atelier:{a}:{'b' * 24}" for a in actions]
    image = [item.custom_id for item in result_view("c" * 24, "image").children]  # type: ignore[attr-defined]
    assert image[-1] == f"atelier:write:{'c' * 24}" and len(image) == 5
    # Each id matches the persistent button's template, so a click after a restart works.
    for custom_id in ids + image:
        assert ActionButton.__discord_ui_compiled_template__.fullmatch(custom_id)


def test_remix_form_data_in_rows_or_labels() -> None:
    rows = {
        "custom_id": REMIX_FORM + "c" * 24,
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "prompt", "value": "x"}]}
        ],
    }
    labels = {
        "custom_id": REMIX_FORM + "c" * 24,
        "components": [{"type": 18, "component": {"type": 4, "custom_id": "prompt", "value": "y"}}],
    }
    assert remix_submit(rows) == ("c" * 24, "x")
    assert remix_submit(labels) == ("c" * 24, "y")
    assert remix_submit({"custom_id": "something-else"}) is None


def test_tokens_are_hidden_in_urls_payloads_and_tracebacks() -> None:
    url = "PATCH http://x/api/v10/webhooks/123/itok.SECRET-abc/messages/@original"
    assert "SECRET" not in redact(url) and "/webhooks/123/" in redact(url)
    assert "SECRET" not in redact("{'token': 'SECRET', 'id': 1}")
    assert "SECRET" not in redact('{"token": "SECRET"}')
    assert redact("bot SECRET-BOT", ("SECRET-BOT",)) == "bot <hidden>"
    try:
        raise ValueError("/interactions/5/SECRET/callback failed")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, "", 0, "at %s", ("/webhooks/1/SECRET",), None
        )
        import sys

        record.exc_info = sys.exc_info()
    RedactSecrets().filter(record)
    assert "SECRET" not in record.getMessage() and "SECRET" not in (record.exc_text or "")


@pytest.mark.parametrize("value", ["auto", "2", " AUTO "])
def test_shards_setting_accepts_auto_or_a_count(value: str) -> None:
    assert Settings(ATELIER_DISCORD_SHARDS=value).discord_shards == value.strip().lower()


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_shards_setting_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError, match="ATELIER_DISCORD_SHARDS"):
        Settings(ATELIER_DISCORD_SHARDS=value)


def test_shard_ids_split_the_shards_across_replicas() -> None:
    assert Settings(ATELIER_DISCORD_SHARD_IDS=" 0, 2").shard_ids() == [0, 2]
    assert Settings().shard_ids() is None
    pod = {"ATELIER_DISCORD_SHARD_IDS": "pod", "ATELIER_DISCORD_SHARDS": "5"}
    second = Settings(**pod, ATELIER_DISCORD_REPLICAS=2, ATELIER_ADAPTER_ID="discord-1")
    assert second.shard_ids() == [1, 3]
    first = Settings(**pod, ATELIER_DISCORD_REPLICAS=2, ATELIER_ADAPTER_ID="discord-0")
    assert first.shard_ids() == [0, 2, 4]
    with pytest.raises(ValueError, match="ATELIER_DISCORD_SHARD_IDS"):
        Settings(ATELIER_DISCORD_SHARD_IDS="first")
    with pytest.raises(ValueError, match="pod name"):
        Settings(**pod, ATELIER_ADAPTER_ID="discord-abc12").shard_ids()


def test_a_replica_runs_only_its_shards_of_the_count() -> None:
    from adapters.discord.app import DiscordAdapter
    from bot.errors import ConfigError

    def client(**env: str) -> discord.Client:
        adapter = DiscordAdapter.__new__(DiscordAdapter)  # client() reads only the settings
        adapter.settings = Settings(**env)
        adapter.handlers = None  # type: ignore[assignment]
        return adapter.client()

    sharded = client(ATELIER_DISCORD_SHARDS="4", ATELIER_DISCORD_SHARD_IDS="1,3")
    assert isinstance(sharded, discord.AutoShardedClient)
    assert sharded.shard_ids == [1, 3] and sharded.shard_count == 4
    with pytest.raises(ConfigError, match="ATELIER_DISCORD_SHARDS"):
        client(ATELIER_DISCORD_SHARD_IDS="1")
    with pytest.raises(ConfigError, match="below"):
        client(ATELIER_DISCORD_SHARDS="2", ATELIER_DISCORD_SHARD_IDS="2")


def test_each_replica_has_its_own_consumer_name() -> None:
    assert Settings(ATELIER_ADAPTER_ID="slack-7f9c-x2").consumer_name("slack") == "slack-7f9c-x2"
    assert Settings().consumer_name("discord").startswith("discord-")
