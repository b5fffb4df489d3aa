"""Slash commands built from the command catalogue (`bot.commands.catalogue`), never repeated here.

Each catalogue option becomes a typed Discord option: choices for `choice`, ranges for
numbers, a length limit for text, autocomplete where the catalogue has suggestions, and its
default in the description. The free words of the text form become a `prompt` option.
Commands not available on this deployment are not registered.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal, Optional

import discord
from discord import app_commands

from bot.commands.catalogue import CATALOGUE, MAX_PROMPT_CHARS, Command, Option
from bot.desk.server_settings import SETTINGS
from bot.jobs import OptionValue

from .messages import clip

PROMPT = "prompt"
DESCRIPTION_LIMIT = 100
CHOICES_LIMIT = 25
SlashHandler = Callable[
    [discord.Interaction, tuple[str, ...], dict[str, OptionValue]], Awaitable[None]
]
Suggest = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]


def build_commands(
    on_slash: SlashHandler,
) -> list[app_commands.Command[Any, ..., None] | app_commands.Group]:
    """Every available catalogue command as an app command (groups for subcommands)."""
    built: list[app_commands.Command[Any, ..., None] | app_commands.Group] = []
    for cmd in CATALOGUE:
        if not cmd.available:
            continue
        if cmd.subcommands:
            group = app_commands.Group(name=cmd.name, description=_describe(cmd.help))
            for sub in cmd.subcommands:
                if sub.available:
                    group.add_command(_leaf(sub, (cmd.name, sub.name), on_slash))
            built.append(group)
        else:
            built.append(_leaf(cmd, (cmd.name,), on_slash))
    return built


def _leaf(
    cmd: Command, path: tuple[str, ...], on_slash: SlashHandler
) -> app_commands.Command[Any, ..., None]:
    async def callback(interaction: discord.Interaction, **values: OptionValue) -> None:
        await on_slash(interaction, path, values)

    params = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    descriptions: dict[str, str] = {}
    if cmd.prompt:
        params.append(_parameter(PROMPT, _text(MAX_PROMPT_CHARS), required=cmd.prompt_required))
        descriptions[PROMPT] = _describe(cmd.prompt[:1].upper() + cmd.prompt[1:] + ".")
    for opt in cmd.options:
        params.append(_parameter(opt.name, _annotation(opt), required=False))
        default = f" (default {_shown(opt.default)})" if opt.default is not None else ""
        descriptions[opt.name] = _describe(opt.help, default)
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=cmd.name, description=_describe(cmd.help), callback=callback
    )
    for name, suggest in _suggesters(cmd, path).items():
        command.autocomplete(name)(suggest)
    return command


def _parameter(name: str, annotation: Any, *, required: bool) -> inspect.Parameter:
    if required:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
    # Optional[...] rather than `| None`: a Range annotation is an object, not a type.
    optional = Optional[annotation]  # noqa: UP045
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=optional, default=None
    )


def _annotation(opt: Option) -> Any:
    if opt.type == "choice" and len(opt.choices) <= CHOICES_LIMIT:
        return Literal.__getitem__(tuple(opt.choices))
    if opt.type == "int":
        return app_commands.Range[int, _bound(opt.min), _bound(opt.max)]
    if opt.type == "float":
        return app_commands.Range[float, opt.min, opt.max]
    if opt.type == "bool":
        return bool
    if opt.type == "file":
        return discord.Attachment  # option type 11: an upload, in data.resolved.attachments
    return _text(opt.max_length)  # str, or a choice list too long for Discord (checked later)


def _text(max_length: int) -> Any:
    return app_commands.Range[str, 1, max_length]


def _shown(value: OptionValue) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bound(value: float | None) -> int | None:
    return None if value is None else int(value)


def _describe(text: str, suffix: str = "") -> str:
    return clip(text, DESCRIPTION_LIMIT - len(suffix)) + suffix


def _suggesters(cmd: Command, path: tuple[str, ...]) -> dict[str, Suggest]:
    """Autocomplete: catalogue suggestions for options, command names for help, setting
    names for settings. Any typed value stays allowed."""
    found = {o.name: _suggest(o.suggestions) for o in cmd.options if o.suggestions}
    if path == ("atelier", "help"):
        found[PROMPT] = _suggest(tuple(c.name for c in CATALOGUE))
    if path == ("atelier", "settings"):
        found["key"] = _suggest(tuple(s.name for s in SETTINGS))
    return found


def _suggest(words: Sequence[str]) -> Suggest:
    async def suggest(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=w, value=w) for w in suggestions(words, current)]

    return suggest


def suggestions(words: Sequence[str], current: str) -> list[str]:
    """What the user typed first (free text is allowed), then matching suggestions."""
    typed = current.strip()
    low = typed.lower()
    starts = [w for w in words if w.lower().startswith(low)]
    inside = [w for w in words if low in w.lower() and w not in starts]
    picked = [typed] if typed and typed.lower() not in (w.lower() for w in words) else []
    return [*picked, *starts, *inside][:CHOICES_LIMIT]
