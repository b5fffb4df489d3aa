"""A job from a validated invocation: the seed is chosen here, so it can be shown."""

from __future__ import annotations

import random

from bot.commands.parse import Invocation
from bot.commands.prompts import build_text_spec
from bot.jobs import ImagePolicy, Job, JobKind, Origin, job_id_for

_SEEDS = random.SystemRandom()


def new_seed() -> int:
    """A fresh seed for a job that names none."""
    return _SEEDS.randrange(2**31)


def build_job(
    inv: Invocation,
    origin: Origin,
    *,
    seed: int | None = None,
    model: str | None = None,
    parent_id: str | None = None,
    image_safety: ImagePolicy = "strict",
) -> Job:
    """A job from a validated invocation. The seed is chosen here, so it can be shown."""
    kind = inv.command.kind
    if kind is None:
        raise ValueError(f"/{inv.name} does not make a job")
    options = dict(inv.options)
    given_seed = options.pop("seed", None)
    chosen = int(given_seed) if given_seed is not None else seed
    if chosen is None:
        chosen = new_seed()
    text = build_text_spec(inv.command.name, inv.prompt, options) if kind is JobKind.TEXT else None
    return Job(
        id=job_id_for(origin.platform, origin.delivery_id),
        kind=kind,
        command=inv.command.name,
        prompt=inv.prompt,
        options=options,
        seed=chosen,
        model=model or None,
        text=text,
        origin=origin,
        parent_id=parent_id,
        image_safety=image_safety,
    )
