"""The generator interface the worker loop drives. Generators never touch Redis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.desk.moderation import Flag
from bot.jobs import Job, JobKind, OptionValue

# Called from the generator's thread: (fraction done, partial text per job or None).
ProgressFn = Callable[[float, Sequence[str] | None], None]


@dataclass(frozen=True)
class File:
    """A file a generator made for one job (the worker stores it; adapters attach it)."""

    filename: str
    content_type: str
    data: bytes
    description: str = ""


@dataclass
class Output:
    """One job's outcome. `error` is a user-facing reason this job alone could not be made."""

    text: str = ""
    settings: dict[str, OptionValue] = field(default_factory=dict)
    error: str = ""
    note: str = ""  # a user-facing remark on the piece, e.g. whether its form was met
    files: list[File] = field(default_factory=list)
    # Set when moderation stopped or changed this piece: why, and what was done (for the
    # server's moderation log: "withheld a result", "blurred an image", ...).
    flag: Flag | None = None
    action: str = ""


class Generator(Protocol):
    kind: JobKind
    name: str  # the library or method, shown in provenance ("transformers")
    model_id: str
    device: str

    def load(self) -> None: ...

    def warmup(self) -> None: ...

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        """Outputs in the order of `jobs`. Raising fails the whole call (the worker then
        retries jobs one by one to find the poison one)."""
        ...
