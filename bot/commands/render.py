"""Turn results, progress and help into platform-neutral messages. Pure functions.

Each adapter turns a `Message` into its own form (Discord embed, Slack blocks, terminal).
Every result carries a provenance line: model, seed, settings, time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.commands.catalogue import CATALOGUE, Command, command
from bot.jobs import OptionValue, Progress, Provenance, Result

# When a platform refuses a result's layout: it is shown again in a plainer form, once.
PLAIN_FORM_NOTE = "Shown as plain text: the platform refused this piece's usual layout."
REFUSED_ERROR = (
    "The platform refused to show this piece, even as plain text. Try Regenerate, or a "
    "shorter prompt."
)


# Mentions as Slack (`<@U1>`, `<!channel>`) and Discord (`<@1>`, `<@&1>`, `<@!1>`,
# `@everyone`, `@here`) write them; a zero-width space after `<` or `@` shows the same
# characters and pings nobody.
_MENTION = re.compile(r"<(?=[@!])|(?<!\w)@(?=(?:everyone|here|channel)\b)", re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"


def defuse_mentions(text: str) -> str:
    """Text that came from a person or a model (a prompt, a generated title, alt text), made
    safe to show anywhere a platform renders text: no mention in it pings anyone."""
    return _MENTION.sub(lambda m: m[0] + ZERO_WIDTH_SPACE, text)


# A command held while Redis does not answer (`bot.desk.holding`), then past the window.
def held_text(window_s: float) -> str:
    return (
        "Queued: the queue is reconnecting (Redis is restarting). Your command runs as soon "
        f"as it is back; Atelier waits up to {window_s:.0f} seconds for it."
    )


def gave_up_text(window_s: float) -> str:
    return (
        f"Not queued: the queue did not come back within {window_s:.0f} seconds, so this "
        "command was dropped. Try again in a minute."
    )


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    footer: str = ""
    error: bool = False


def model_label(model: str) -> str:
    """A short, readable model name: a hub id as is, a local directory by its last part."""
    model = model.rstrip("/")
    if model.startswith(("/", "./", "../", "~")):
        return model.rsplit("/", 1)[-1] or model
    return model


def settings_text(settings: dict[str, OptionValue]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in settings.items())


def provenance_line(p: Provenance) -> str:
    parts = [f"made with {model_label(p.model)} ({p.generator})", f"seed {p.seed}"]
    if p.settings:
        parts.append(settings_text(p.settings))
    timing = f"{p.duration_s:.1f} s on {p.device}"
    if p.batch_size > 1:
        timing += f", batch of {p.batch_size}"
    parts.append(timing)
    return " · ".join(parts)


def job_title(command: str, prompt: str, default: str = "Atelier") -> str:
    """How a job's message is headed: "/poem the sea at dusk"; `default` when the command is
    not known (a progress or result from an older worker)."""
    return f"/{command} {prompt}".strip() if command else default


def render_result(result: Result, *, credit: str = "") -> Message:
    """`credit`: a chain piece's credit line (`chain.credit_line`), after provenance."""
    title = job_title(result.command, result.prompt, "")
    if not result.ok:
        return Message(title, result.error or "Something went wrong.", error=True)
    footer = provenance_line(result.provenance) if result.provenance else ""
    if result.note:
        footer = f"{footer} · {result.note}" if footer else result.note
    if credit:
        footer = f"{footer} · {credit}" if footer else credit
    body = result.text.strip()
    if not body and not result.attachments:
        body = "(the model returned nothing)"
    return Message(title, body, footer)


def queued_text(position: int | None, workers: int) -> str:
    online = f"{workers} worker{'s' if workers != 1 else ''} online"
    if workers == 0:
        online = "no worker online yet: your job is kept and runs when one starts"
    if position is None:
        return f"accepted, {online}"
    if position == 0:
        return f"generating now, {online}"
    return f"queued, #{position} in line, {online}"


def line_text(place: int | None, running: int) -> str:
    """A job waiting in its server's own line (`bot.queue.fairness`) for one of its slots."""
    where = f"#{place} in this server's line" if place else "in this server's line"
    return (
        f"queued, {where}: this server already has {running} jobs of this kind in progress, "
        "its share of the workers; yours starts as those finish"
    )


def progress_text(progress: Progress) -> str:
    if progress.stage.startswith("waiting"):  # a note while nothing runs: no percentage
        return progress.stage
    return f"{progress.stage} {round(progress.fraction * 100)}%"


def help_text(name: str = "") -> str:
    """The catalogue as help: all commands, or one command with its options."""
    words = name.lstrip("/").split()
    if words:
        cmd = command(words[0].lower())
        if cmd is None:
            return f"Unknown command /{name.lstrip('/')}. Type /help to list commands."
        return _command_help(cmd)
    lines = ["Atelier: write, draw and compose together. Commands:"]
    for cmd in CATALOGUE:
        suffix = "" if cmd.available else "  (not available yet on this deployment)"
        lines.append(f"  /{cmd.name:<11}{cmd.help}{suffix}")
    lines.append("Options are key:value, e.g. /poem the sea at dusk form:haiku mood:calm seed:7")
    lines.append("Type /help <command> for its options.")
    return "\n".join(lines)


def _command_help(cmd: Command) -> str:
    lines = [f"/{cmd.name}: {cmd.help}"]
    if not cmd.available:
        lines.append("  (not available yet on this deployment)")
    if cmd.prompt:
        lines.append(f"  text: {cmd.prompt}{'' if cmd.prompt_required else ' (optional)'}")
    for opt in cmd.options:
        default = f" [default {_fmt(opt.default)}]" if opt.default is not None else ""
        hints = f" e.g. {', '.join(opt.suggestions[:5])}" if opt.suggestions else ""
        lines.append(f"  {opt.name}: {opt.help} {opt.describe_allowed()}{default}{hints}")
    for sub in cmd.subcommands:
        lines.append(f"  /{cmd.name} {sub.name}: {sub.help}")
    if cmd.example:
        lines.append(f"  example: {cmd.example}")
    return "\n".join(lines)


def _fmt(value: OptionValue | None) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and " " in value:
        return f'"{value}"'
    return str(value)
