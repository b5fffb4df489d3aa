"""What the core hands adapters: a `Reply` to post, its `Button`s, and the `Action`s a result's
buttons carry. Adapters present these; they never build them from raw Redis state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.commands import chain
from bot.commands.render import job_title
from bot.jobs import JobKind


class Action(StrEnum):
    """What a button on a result does; adapters put `action:job_id` in the button's id."""

    REGENERATE = "regen"
    VARIATIONS = "vary"
    REMIX = "remix"
    DELETE = "delete"
    ILLUSTRATE = "illustrate"  # a text result -> an /image from its imagery (`bot.commands.chain`)
    SCORE = "score"  # a text result -> a /melody in its mood
    WRITE = "write"  # an image result -> a /poem about it


BASE_ACTIONS = (Action.REGENERATE, Action.VARIATIONS, Action.REMIX, Action.DELETE)


def result_actions(command_name: str) -> tuple[Action, ...]:
    """The buttons under a result of this command: the base four, then the chain actions
    whose target command this deployment offers."""
    return BASE_ACTIONS + tuple(Action(a) for a in chain.offered(command_name))


@dataclass(frozen=True)
class Button:
    """A button under a reply; adapters put `id` in the platform's button id and hand a click
    back to `FrontDesk.click(id, ...)`."""

    label: str
    id: str  # "cvote:{challenge}:{n}", "gpage:{page}:{kind}:{user}"


@dataclass(frozen=True)
class Reply:
    text: str
    job_id: str | None = None
    kind: JobKind | None = None
    error: bool = False
    duplicate: bool = False  # the platform delivered this command before
    more_jobs: tuple[str, ...] = ()  # the other jobs of the same command (an /inspire pack)
    public: bool = False  # a bot-side reply the whole channel sees (a challenge opened)
    buttons: tuple[Button, ...] = ()
    thread: str = ""  # a poem's id: post this publicly and open a thread for its lines
    command: str = ""  # the queued job's command and prompt, for the message that shows it
    prompt: str = ""

    def title(self) -> str:
        """How the message showing this reply's job is headed: "/poem the sea at dusk"."""
        return job_title(self.command, self.prompt)
