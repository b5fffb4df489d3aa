"""A poem written together, platform-neutral: members add lines in turn, the model adds its
own line when asked (or every n-th line), the form's line count is kept and its rhyme scheme
is checked with `bot.commands.poetic_forms` and shown after every line, and the finished poem
credits each line's author.

The model's line is a text job. Its result is read back from Redis (`result:{job}`) the next
time anyone touches the poem, so no adapter needs to know about collabs to deliver it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from bot.commands.imagery import imagery_prompt
from bot.commands.poetic_forms import RHYME_SCHEMES, SYLLABLE_PATTERNS, check, last_word, rhymes
from bot.commands.prompts import SYSTEM
from bot.errors import UserError
from bot.jobs import Job, JobKind, Origin, TextSpec, job_id_for, load_result
from bot.keys import Keys

MODEL = "atelier"  # the author name of the model's lines
MAX_LINE_CHARS = 200
COLLAB_TTL_S = 30 * 86_400
LINE_TOKENS = 40
FORM_LINES = {"villanelle": 19, "cinquain": 5}


def lines_for(form: str, turns: int) -> int:
    """How many lines the poem has: the form's count, else the turns asked for."""
    if form in SYLLABLE_PATTERNS:
        return len(SYLLABLE_PATTERNS[form])
    if form in RHYME_SCHEMES:
        return len(RHYME_SCHEMES[form][0])
    return FORM_LINES.get(form, turns)


def scheme_for(form: str) -> str:
    return RHYME_SCHEMES[form][0] if form in RHYME_SCHEMES else ""


@dataclass(frozen=True)
class Line:
    text: str
    author_id: str  # "" for the model
    author_name: str

    @property
    def by(self) -> str:
        return self.author_name or self.author_id or MODEL


@dataclass(frozen=True)
class Collab:
    id: str
    platform: str
    server: str
    channel: str  # the channel or thread the poem is written in
    theme: str
    form: str
    lines: int
    owner: str
    model_every: int = 0  # the model writes every n-th line; 0: only when asked
    pending_job: str = ""  # the model's line being written
    finished: bool = False
    thread: str = ""  # the thread opened for it, where replies are lines ("" = none)


def rhyme_note(form: str, lines: list[Line]) -> str:
    """How the newest line keeps the rhyme scheme, in words ("" when unrhymed)."""
    scheme = scheme_for(form)
    n = len(lines)
    if not scheme or n == 0 or n > len(scheme):
        return ""
    letter = scheme[n - 1]
    earlier = [j for j in range(n - 1) if scheme[j] == letter]
    if not earlier:
        return f"line {n} opens rhyme {letter}"
    first = earlier[0]
    a, b = last_word(lines[first].text), last_word(lines[-1].text)
    if rhymes(a, b, slant=form == "sonnet"):
        return f"line {n} rhymes with line {first + 1} ({a} / {b}) ✓"
    return f"line {n} should rhyme with line {first + 1} ({a} / {b} do not)"


def continuation_spec(collab: Collab, lines: list[Line]) -> TextSpec:
    """The model's next line: the poem so far, and what the line must rhyme with."""
    scheme = scheme_for(collab.form)
    n = len(lines) + 1
    hint = ""
    if scheme and n <= len(scheme):
        earlier = [j for j in range(n - 1) if scheme[j] == scheme[n - 1]]
        if earlier:
            hint = f" It must rhyme with “{last_word(lines[earlier[0]].text)}”."
    so_far = "\n".join(line.text for line in lines)
    form = "poem" if collab.form == "free" else collab.form
    return TextSpec(
        system=SYSTEM,
        instruction=(
            f"We are writing a {form} about “{collab.theme or 'anything'}” together, one line "
            f"each. Write only line {n}, one line of verse.{hint}\nThe poem so far:\n{so_far}"
        ),
        completion=f"A {form} about {collab.theme or 'the world'}.\n\n{so_far}\n",
        max_new_tokens=LINE_TOKENS,
        temperature=0.9,
        top_p=0.95,
        repetition_penalty=1.1,
    )


def first_line(text: str) -> str:
    for line in text.splitlines():
        line = " ".join(line.split()).strip(' "“”')
        if sum(ch.isalnum() for ch in line) >= 2:
            return line[:MAX_LINE_CHARS]
    return ""


class CollabStore:
    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    async def start(self, collab: Collab) -> Collab:
        current = await self.here(collab.platform, collab.channel)
        if current is not None:
            if current.id == collab.id:
                return current
            raise UserError("A poem is being written here already; /collab finish ends it.")
        await self._save(collab)
        await self.redis.set(
            self.keys.collab_current(collab.platform, collab.channel), collab.id, ex=COLLAB_TTL_S
        )
        return collab

    async def attach_thread(self, collab: Collab, place: str) -> Collab:
        """The platform opened a thread for the poem: replies there are lines too."""
        attached = Collab(**{**asdict(collab), "thread": place})
        await self._save(attached)
        await self.redis.set(
            self.keys.collab_current(collab.platform, place), collab.id, ex=COLLAB_TTL_S
        )
        return attached

    async def here(self, platform: str, channel: str) -> Collab | None:
        cid = await self.redis.get(self.keys.collab_current(platform, channel))
        raw = await self.redis.hget(self.keys.collab(cid), "data") if cid else None
        return Collab(**json.loads(raw)) if raw else None

    async def lines(self, collab: Collab) -> list[Line]:
        raw = await self.redis.lrange(self.keys.collab_lines(collab.id), 0, -1)
        return [Line(**json.loads(item)) for item in raw]

    async def settle(self, collab: Collab) -> tuple[Collab, str]:
        """Take in the model's line if its job has finished. Returns the poem and a note."""
        if not collab.pending_job:
            return collab, ""
        raw = await self.redis.get(self.keys.result(collab.pending_job))
        if raw is None:
            return collab, ""
        result = load_result(raw)
        collab = Collab(**{**asdict(collab), "pending_job": ""})
        await self._save(collab)
        line = first_line(result.text) if result.ok else ""
        if not line:
            return collab, "The model's line did not come out; someone else may take the turn."
        await self._append(collab, Line(line, "", MODEL))
        return collab, f"The model wrote: {line}"

    async def add(self, collab: Collab, text: str, author_id: str, author_name: str) -> list[Line]:
        """A member's line, in turn. Returns the poem's lines so far."""
        collab, _ = await self.settle(collab)
        if collab.pending_job:
            raise UserError("The model is writing its line; add yours once it has.")
        text = " ".join(text.split())
        if not text:
            raise UserError("Write the line after the command, e.g. /collab line the moon sang.")
        if len(text) > MAX_LINE_CHARS:
            raise UserError(f"A line is at most {MAX_LINE_CHARS} characters.")
        lines = await self.lines(collab)
        if len(lines) >= collab.lines:
            raise UserError(f"The poem has all its {collab.lines} lines; /collab finish ends it.")
        if lines and lines[-1].author_id == author_id:
            raise UserError("You wrote the last line; let someone else take a turn.")
        await self._append(collab, Line(text, author_id, author_name))
        return [*lines, Line(text, author_id, author_name)]

    def model_turn(self, collab: Collab, lines: list[Line]) -> bool:
        """Does the turn pass to the model now (every n-th line)?"""
        n = len(lines)
        return bool(collab.model_every) and n < collab.lines and (n + 1) % collab.model_every == 0

    async def ask_model(self, collab: Collab, origin: Origin, seed: int) -> Job:
        """A text job for the model's next line; the poem waits for it."""
        collab, _ = await self.settle(collab)
        if collab.pending_job:
            raise UserError("The model is writing its line already.")
        lines = await self.lines(collab)
        if len(lines) >= collab.lines:
            raise UserError(f"The poem has all its {collab.lines} lines; /collab finish ends it.")
        job = Job(
            id=job_id_for(origin.platform, origin.delivery_id),
            kind=JobKind.TEXT,
            command="poem",
            prompt=collab.theme or "a poem written together",
            options={"form": "free", "collab": collab.id},
            seed=seed,
            text=continuation_spec(collab, lines),
            origin=origin,
        )
        await self._save(Collab(**{**asdict(collab), "pending_job": job.id}))
        return job

    async def finish(self, collab: Collab) -> tuple[list[Line], str]:
        """Close the poem; its lines and the form check, in words."""
        collab, _ = await self.settle(collab)
        lines = await self.lines(collab)
        await self._save(Collab(**{**asdict(collab), "finished": True}))
        places = [collab.channel, *([collab.thread] if collab.thread else [])]
        await self.redis.delete(*(self.keys.collab_current(collab.platform, p) for p in places))
        if not lines:
            return lines, "The poem has no lines."
        report = check(collab.form, "\n".join(line.text for line in lines))
        if collab.form == "free":
            return lines, "free verse"
        if report.ok:
            return lines, f"{collab.form} form checked: met"
        return lines, f"{collab.form} form not met: {'; '.join(report.problems[:2])}"

    async def _append(self, collab: Collab, line: Line) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self.keys.collab_lines(collab.id), json.dumps(asdict(line)))
            pipe.expire(self.keys.collab_lines(collab.id), COLLAB_TTL_S)
            await pipe.execute()

    async def _save(self, collab: Collab) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.collab(collab.id),
                mapping={"data": json.dumps(asdict(collab)), "at": f"{time.time():.0f}"},
            )
            pipe.expire(self.keys.collab(collab.id), COLLAB_TTL_S)
            await pipe.execute()


def compiled(collab: Collab, lines: list[Line], verdict: str) -> str:
    """The finished poem with each line's author."""
    title = f"“{collab.theme}”" if collab.theme else "A poem written together"
    width = max((len(line.text) for line in lines), default=0)
    body = "\n".join(f"{line.text:<{width}}   — {line.by}" for line in lines)
    authors = ", ".join(dict.fromkeys(line.by for line in lines))
    return f"{title} ({collab.form})\n{body}\nWritten by {authors}. {verdict}."


def imagery(collab: Collab, lines: list[Line]) -> str:
    """An image prompt drawn from the poem: its theme, then its picture words in order."""
    return imagery_prompt(collab.theme, (line.text for line in lines))


def credits(lines: list[Line]) -> str:
    """Everyone who wrote a line, in order: "Alice, Bob and atelier"."""
    names = list(dict.fromkeys(line.by for line in lines))
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
