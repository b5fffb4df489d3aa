"""Chaining across media: a poem's Illustrate (an image from its imagery, in its mood) and
Score it (a melody in its mood), an image's Write about it (a poem about what it shows).

Each new piece is an ordinary job whose `parent_id` is the clicked piece; its credit line
walks those links back, so a thread that grew poem -> image -> melody says who wrote the
poem, who asked for the picture and who asked for the tune. Pure functions, except
`credit_line`, which reads the stored jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.commands.catalogue import command
from bot.commands.imagery import imagery_prompt, mood_of
from bot.jobs import Job, OptionValue, Result, load_job
from bot.keys import Keys

TEXT_COMMANDS = ("poem", "story", "script")
# action value -> (the command it makes, the commands whose results offer it)
LINKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "illustrate": ("image", TEXT_COMMANDS),
    "score": ("melody", TEXT_COMMANDS),
    "write": ("poem", ("image",)),
}
MAX_CHAIN = 6  # how many links back a credit line walks


@dataclass(frozen=True)
class Derived:
    """What a chain action makes: the command, its prompt and its options."""

    command: str
    prompt: str
    options: dict[str, OptionValue]


def offered(result_command: str) -> tuple[str, ...]:
    """The chain actions a result of this command offers: those whose target command is
    available on this deployment."""
    found = []
    for action, (target, sources) in LINKS.items():
        cmd = command(target)
        if result_command in sources and cmd is not None and cmd.available:
            found.append(action)
    return tuple(found)


def derive(action: str, parent: Job, result: Result | None) -> Derived:
    """The new piece's command, prompt and options from the clicked piece and its result
    (None when the result has expired: the parent's prompt stands in for its text)."""
    target, _sources = LINKS[action]
    text = result.text if result is not None and result.ok else ""
    given_mood = str(parent.options.get("mood", "") or "")
    if action == "illustrate":
        mood = mood_of(text or parent.prompt, given_mood)
        picture = imagery_prompt(parent.prompt, text.splitlines() or [parent.prompt])
        return Derived(target, _fit(f"{picture}, {mood}"), {})
    if action == "score":
        mood = mood_of(text or parent.prompt, given_mood)
        return Derived(target, _fit(parent.prompt or "a poem"), {"mood": mood})
    described = next(
        (a.description for a in (result.attachments if result else ()) if a.description), ""
    )
    return Derived(target, _fit(described or parent.prompt or "a picture"), {})


def chain_credit(job: Job, ancestors: list[Job]) -> str:
    """ "after poem by Ann → image by Bob, asked by Cy": the pieces a chain piece was made
    from (oldest first; a Regenerate or Remix of the same command is not a new link), then
    who asked for this one. Empty for a piece that is no chain's link."""
    links: list[str] = []
    child = job
    for parent in ancestors:
        if parent.command != child.command:
            links.append(f"{parent.command} by {author(parent)}")
        child = parent
    if not links:
        return ""
    return f"after {' → '.join(reversed(links))}, asked by {author(job)}"


def author(job: Job) -> str:
    return job.origin.user_name or job.origin.user_id or "someone"


async def credit_line(redis: Any, keys: Keys, job_id: str) -> str:
    """The chain credit of a stored job (see `chain_credit`), "" when there is none."""
    raw = await redis.hget(keys.job(job_id), "job")
    if not raw:
        return ""
    job = load_job(raw)
    ancestors: list[Job] = []
    parent_id = job.parent_id
    while parent_id and len(ancestors) < MAX_CHAIN:
        raw = await redis.hget(keys.job(parent_id), "job")
        if not raw:
            break
        parent = load_job(raw)
        ancestors.append(parent)
        parent_id = parent.parent_id
    return chain_credit(job, ancestors)


def _fit(prompt: str, limit: int = 300) -> str:
    prompt = " ".join(prompt.split())
    return prompt if len(prompt) <= limit else prompt[: limit - 1].rstrip() + "…"
