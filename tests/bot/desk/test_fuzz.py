"""Property-based fuzzing of what both adapters feed the front desk: command text (Slack, the
console) and typed options (Discord). Any input gives either a valid invocation or one clear
user error; nothing else is raised, and nothing is enqueued for invalid input."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands.catalogue import CATALOGUE, MAX_PROMPT_CHARS, Command
from bot.commands.parse import Invocation, from_options, parse
from bot.desk.front_desk import FrontDesk
from bot.errors import UserError
from bot.jobs import JobKind, Origin
from bot.queue.streams import JobQueue

NAMES = [c.name for c in CATALOGUE] + ["help", "nope", "Poem", ""]
KEYS = sorted({o.name for c in CATALOGUE for o in c.options} | {"seed", "colour", "x"})
WORD = st.text(min_size=0, max_size=12)
VALUE = st.one_of(
    st.text(max_size=20),
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["haiku", "yes", "no", "short", '"very calm"', "“x”", "'", '"']),
)
TOKEN = st.one_of(WORD, st.tuples(st.sampled_from(KEYS), VALUE).map(lambda kv: f"{kv[0]}:{kv[1]}"))
COMMAND_TEXT = st.tuples(
    st.sampled_from(["/", "", " /", "//"]),
    st.sampled_from(NAMES),
    st.lists(TOKEN, max_size=8),
    st.sampled_from(["", " ", "\n", "\t", "\x00"]),
).map(lambda t: f"{t[0]}{t[1]} {' '.join(t[2])}{t[3]}")


def _valid(inv: Invocation) -> None:
    """What every accepted invocation guarantees to the rest of the system."""
    cmd: Command = inv.command
    assert cmd.available
    assert len(inv.prompt) <= MAX_PROMPT_CHARS
    assert not (cmd.prompt_required and cmd.prompt and not inv.prompt)
    for name, value in inv.options.items():
        opt = cmd.option(name)
        assert opt is not None
        if opt.type == "choice":
            assert value in opt.choices
        if opt.type in ("int", "float"):
            assert isinstance(value, int | float) and not isinstance(value, bool)
            assert opt.min is None or value >= opt.min
            assert opt.max is None or value <= opt.max


@settings(max_examples=400, deadline=None)
@given(st.one_of(COMMAND_TEXT, st.text(max_size=200)))
def test_command_text_is_parsed_or_refused_clearly(text: str) -> None:
    try:
        inv = parse(text)
    except UserError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 600
        return
    _valid(inv)


OPTIONS = st.dictionaries(
    st.sampled_from(KEYS),
    st.one_of(VALUE, st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.booleans()),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([(c.name,) for c in CATALOGUE] + [("atelier", "settings"), ("nope",)]),
    st.text(max_size=1100),
    OPTIONS,
)
def test_typed_options_are_parsed_or_refused_clearly(
    path: tuple[str, ...], prompt: str, options: dict[str, object]
) -> None:
    try:
        inv = from_options(path, prompt, options)  # type: ignore[arg-type]
    except UserError as exc:
        assert str(exc) and len(str(exc)) < 600
        return
    _valid(inv)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(COMMAND_TEXT)
def test_the_front_desk_enqueues_only_valid_commands(queue: JobQueue, text: str) -> None:
    async def check() -> None:
        desk = FrontDesk(queue)
        before = {k: await queue.depth(k) for k in JobKind}
        origin = Origin(
            platform="console", route="console:fuzz", user_id="u", delivery_id=uuid.uuid4().hex
        )
        reply = await desk.handle(text, origin)
        after = {k: await queue.depth(k) for k in JobKind}
        added = sum(after.values()) - sum(before.values())
        if reply.error:
            assert added == 0 and reply.job_id is None
        else:
            # One job per command, or a pack's (an /inspire makes three).
            assert added == ((1 + len(reply.more_jobs)) if reply.job_id else 0)

    # The queue's client belongs to the test's loop; a fresh loop per example would not fit it.
    asyncio.get_event_loop().run_until_complete(check())
