"""One parser for command text: `/poem the sea at dusk form:haiku mood:"very calm" seed:42`.

Free words are the prompt; `key:value` pairs are options of the catalogue (quoted values
allowed, straight or typographic quotes). Every mistake raises `UserError` with one line
that says what is allowed. Pure: no IO.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.commands.catalogue import MAX_PROMPT_CHARS, Command, Option, command, defaults, names
from bot.errors import UserError
from bot.jobs import OptionValue

_OPTION = re.compile(r"^([A-Za-z][A-Za-z_-]{0,31}):(.*)$", re.DOTALL)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»"}
_TRUE = {"yes", "y", "true", "on", "1"}
_FALSE = {"no", "n", "false", "off", "0"}


@dataclass(frozen=True)
class Invocation:
    """A validated command: the leaf command, its typed options (defaults filled in)."""

    command: Command
    path: tuple[str, ...]  # ("poem",) or ("challenge", "new")
    prompt: str
    options: dict[str, OptionValue]
    given: frozenset[str]  # the options the user typed

    @property
    def name(self) -> str:
        return " ".join(self.path)


def parse(text: str, *, is_available: Callable[[Command], bool] | None = None) -> Invocation:
    """Parse and validate one line of command text."""
    available = is_available or (lambda c: c.available)
    text = unicodedata.normalize("NFC", text).replace("\u00a0", " ").strip()
    if not text.startswith("/"):
        raise UserError("Commands start with '/', for example /poem the sea. Type /help to list.")
    tokens = _tokenize(text[1:])
    if not tokens or not tokens[0][0]:
        raise UserError("Type a command after '/', for example /poem the sea. Type /help to list.")
    head = tokens.pop(0)[0].lower()
    if head == "help":
        head, tokens = "atelier", [("help", None), *tokens]
    cmd = command(head)
    if cmd is None:
        raise UserError(f"Unknown command /{head}. Commands: {_list(names())}.")
    path = [cmd.name]
    # `/atelier poem ...` reaches /poem where a platform has no /poem installed.
    if cmd.name == "atelier" and tokens and tokens[0][1] is None:
        inner = command(tokens[0][0].lower())
        if inner is not None and inner.name != "atelier":
            tokens.pop(0)
            cmd, path = inner, [inner.name]
    if cmd.subcommands:
        sub_name = tokens.pop(0)[0].lower() if tokens and tokens[0][1] is None else ""
        if not sub_name and cmd.name == "atelier":
            sub_name = "help"
        sub = cmd.subcommand(sub_name)
        if sub is None:
            what = f"Unknown subcommand '{sub_name}'" if sub_name else "Missing subcommand"
            subs = _list(c.name for c in cmd.subcommands)
            raise UserError(f"{what} for /{cmd.name}. Use one of: {subs}.")
        if not cmd.available:
            raise _unavailable(cmd.name)
        cmd = sub
        path.append(sub.name)
    if not available(cmd):
        raise _unavailable(" ".join(path))
    return validate(cmd, tuple(path), tokens)


def validate(
    cmd: Command, path: tuple[str, ...], tokens: list[tuple[str, str | None]]
) -> Invocation:
    """Split tokens into prompt words and options, and check each against the catalogue."""
    words: list[str] = []
    raw: dict[str, str] = {}
    where = "/" + " ".join(path)
    for word, value in tokens:
        if value is None:
            words.append(word)
            continue
        opt = cmd.option(word.lower())
        if opt is None:
            known = _list(o.name for o in cmd.options) if cmd.options else "none"
            raise UserError(
                f"Unknown option '{word}' for {where}. Options: {known}. "
                "(To keep a colon in your text, put a space after it.)"
            )
        if opt.name in raw:
            raise UserError(f"Option '{opt.name}' is given twice for {where}; give it once.")
        raw[opt.name] = value
    prompt = " ".join(words)
    check_prompt(cmd, where, prompt)
    options = defaults(cmd)
    for name, value in raw.items():
        opt = cmd.option(name)
        assert opt is not None
        options[name] = convert(opt, value, where)
    return Invocation(cmd, path, prompt, options, frozenset(raw))


def from_options(
    path: tuple[str, ...], prompt: str, given: Mapping[str, OptionValue]
) -> Invocation:
    """An invocation from typed options (Discord's slash commands), checked by the same rules
    as command text: unknown options, ranges, choices and the prompt limits."""
    cmd = command(path[0])
    for name in path[1:]:
        cmd = cmd.subcommand(name) if cmd is not None else None
    if cmd is None:
        raise UserError(f"Unknown command /{' '.join(path)}. Type /help to list commands.")
    if not cmd.available:
        raise _unavailable(" ".join(path))
    words = [(w, None) for w in prompt.split()]
    options = [(k, str(v)) for k, v in given.items() if v is not None and str(v) != ""]
    return validate(cmd, path, [*words, *options])


def convert(opt: Option, value: str, where: str = "") -> OptionValue:
    """Turn an option's text into its typed value, or say what is allowed."""
    value = value.strip()
    bad = f"Option '{opt.name}'{' for ' + where if where else ''} must be {opt.describe_allowed()}"
    if opt.type == "choice":
        match = next((c for c in opt.choices if c.lower() == value.lower()), None)
        if match is None:
            raise UserError(f"{bad}; got '{_clip(value)}'.")
        return match
    if opt.type in ("int", "float"):
        try:
            number: int | float = int(value) if opt.type == "int" else float(value)
        except ValueError:
            raise UserError(f"{bad}; got '{_clip(value)}'.") from None
        if (
            number != number
            or (opt.min is not None and number < opt.min)
            or (opt.max is not None and number > opt.max)
        ):
            raise UserError(f"{bad}; got {_clip(value)}.")
        return number
    if opt.type == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise UserError(f"{bad}; got '{_clip(value)}'.")
    if not value or len(value) > opt.max_length or not value.isprintable():
        raise UserError(f"{bad}; got '{_clip(value)}'.")
    return value


def check_prompt(cmd: Command, where: str, prompt: str) -> None:
    if not cmd.prompt and prompt:
        raise UserError(f"{where} takes no text, only options. Type /help {cmd.name}.")
    if cmd.prompt and cmd.prompt_required and not prompt:
        raise UserError(f"{where} needs {cmd.prompt}, for example: {cmd.example or where + ' …'}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserError(
            f"The prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}. "
            "Shorten it and try again."
        )
    if any(unicodedata.category(ch) == "Cc" for ch in prompt):
        raise UserError("The prompt contains control characters; type plain text.")


def _tokenize(text: str) -> list[tuple[str, str | None]]:
    """Words, as (word, None), and options, as (key, value). Only option values take quotes:
    an apostrophe in a free word ("the sea's edge") stays part of the prompt."""
    tokens: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        word = text[i:j]
        match = _OPTION.match(word)
        if match is None or (not match.group(2) and j < n) or match.group(2).startswith("//"):
            tokens.append((word, None))  # a free word, a colon before a space, or a URL
            i = j
            continue
        key, value = match.group(1), match.group(2)
        opener = value[:1]
        if opener in _QUOTES:
            closer = _QUOTES[opener]
            start = i + len(key) + 2
            end = text.find(closer, start)
            if end == -1:
                raise UserError(f"The value of '{key}' opens a quote that never closes.")
            value, j = text[start:end], end + 1
            if j < n and not text[j].isspace():
                raise UserError(f"Put a space after the closing quote of '{key}'.")
        if not value:
            tokens.append((word, None))
        else:
            tokens.append((key, value))
        i = j
    return tokens


def _unavailable(name: str) -> UserError:
    return UserError(
        f"/{name} is not available yet on this deployment. "
        "Try /poem, /story or /script, or type /help."
    )


def _list(items: Iterable[str]) -> str:
    return ", ".join(items)


def _clip(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
