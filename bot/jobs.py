"""The job, progress and result schema shared by adapters and workers (versioned).

A job is validated at the adapter edge and again by the worker: an entry that does not parse
goes to the dead-letter stream instead of crashing the loop. Serialisation is pure functions
over JSON so both sides agree byte for byte.
"""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import PoisonJob

SCHEMA_VERSION = 1
OptionValue = str | int | float | bool
ImagePolicy = Literal["strict", "blur", "off"]  # what a flagged image gets (server setting)


class JobKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    MUSIC = "music"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Origin(_Frozen):
    """Where a command came from and where its result goes back to."""

    platform: str = Field(min_length=1, max_length=32)  # "console", "discord", "slack"
    route: str = Field(min_length=1, max_length=128)  # names the result stream to publish on
    channel_id: str = ""
    user_id: str = ""
    user_name: str = ""
    guild_id: str = ""  # Discord guild / Slack team
    thread_id: str = ""
    delivery_id: str = Field(min_length=1, max_length=200)  # the platform's id of the command
    reply_ref: str = ""  # what the adapter needs to edit its reply (interaction token id, ts)


class TextSpec(_Frozen):
    """What a text generator needs: a chat message for instruct models, a completion prompt
    for base models. The worker picks by whether the tokenizer has a chat template."""

    system: str
    instruction: str
    completion: str
    max_new_tokens: int = Field(ge=1, le=4096)
    temperature: float = Field(gt=0, le=2.0)
    top_p: float = Field(gt=0, le=1.0)
    repetition_penalty: float = Field(default=1.0, ge=1.0, le=2.0)


class Job(_Frozen):
    v: Literal[1] = 1
    id: str = Field(min_length=8, max_length=64)
    kind: JobKind
    command: str  # catalogue name, e.g. "poem"
    prompt: str
    options: dict[str, OptionValue] = Field(default_factory=dict)
    seed: int = Field(ge=0, lt=2**32)
    model: str | None = None  # a specific model asked for; None: the worker's configured one
    text: TextSpec | None = None
    origin: Origin
    parent_id: str | None = None  # the job this one regenerates / remixes
    # The server's image policy when the job was made (`bot.desk.server_settings`): what the
    # worker does with an image its safety check flags (withhold, blur, or post as is).
    image_safety: ImagePolicy = "strict"
    created_at: float = Field(default_factory=time.time)

    def batch_key(self) -> tuple[str, ...]:
        """Jobs with equal keys may share one generate call."""
        if self.kind is JobKind.IMAGE:  # one denoising call has one size and one step count
            size, steps = self.options.get("size", ""), self.options.get("steps", "")
            return (self.kind.value, self.model or "", str(size), str(steps))
        length = self.text.max_new_tokens if self.text else 0
        # Length buckets (powers of two) keep short jobs from waiting on long ones.
        return (self.kind.value, self.model or "", str(max(length - 1, 1).bit_length()))


class Provenance(_Frozen):
    """How a piece was made. Every result shows it."""

    model: str
    generator: str
    seed: int
    settings: dict[str, OptionValue] = Field(default_factory=dict)
    device: str = "cpu"
    duration_s: float = 0.0
    batch_id: str = ""
    batch_size: int = 1
    worker: str = ""


class Attachment(_Frozen):
    """A file that comes with a result (an image, audio, MIDI, long text). Its bytes live in
    Redis under `key` (base64, same lifetime as the result); `bot.queue.artifacts` reads them."""

    filename: str = Field(min_length=1, max_length=120)
    content_type: str
    size: int = Field(ge=0)
    key: str
    description: str = ""  # alt text


class Result(_Frozen):
    v: Literal[1] = 1
    job_id: str
    ok: bool
    command: str
    prompt: str
    text: str = ""
    error: str = ""  # user-facing, already phrased for the channel
    note: str = ""  # a remark on the piece, e.g. "haiku form checked: met"
    provenance: Provenance | None = None
    attachments: tuple[Attachment, ...] = ()
    origin: Origin
    attempts: int = 1
    finished_at: float = Field(default_factory=time.time)
    # The job's options and when it was made, so an adapter never re-reads the job to post it.
    options: dict[str, OptionValue] = Field(default_factory=dict)
    created_at: float = 0.0  # 0: a result from an older worker that did not say


class Progress(_Frozen):
    v: Literal[1] = 1
    job_id: str
    fraction: float = Field(ge=0.0, le=1.0)
    stage: str = "generating"
    partial_text: str = ""
    origin: Origin
    command: str = ""  # the job's, so the message showing it is headed without a lookup
    prompt: str = ""


def job_id_for(platform: str, delivery_id: str) -> str:
    """A stable id from the platform's delivery id: a duplicate delivery maps to the same job."""
    digest = hashlib.sha256(f"{platform}\x1f{delivery_id}".encode()).hexdigest()
    return digest[:24]


def dump(model: BaseModel) -> str:
    return model.model_dump_json()


def load_job(raw: str | bytes) -> Job:
    """Parse a job entry; anything malformed is a poison job."""
    try:
        return Job.model_validate_json(raw)
    except ValidationError as exc:
        raise PoisonJob(f"malformed job: {exc.error_count()} problem(s): {_first(exc)}") from exc


def load_result(raw: str | bytes) -> Result:
    return Result.model_validate_json(raw)


def load_progress(raw: str | bytes) -> Progress:
    return Progress.model_validate_json(raw)


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "entry"
    return f"{where}: {err.get('msg', 'invalid')}"
