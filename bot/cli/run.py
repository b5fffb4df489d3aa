"""What every `atelier` command shares: settings, logging, the event loop, exit codes, the
signal handlers, and the text model to use (part of the CLI, the composition root)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import typer

from bot.config import Settings, load_settings
from bot.errors import ConfigError, RedisUnavailable
from bot.logs import setup_logging

MISSING_TEXT_MODEL = (
    "No text model: ATELIER_TEXT_MODEL is not set and this installation has no bundled poet "
    "(worker/models/poet). Set ATELIER_TEXT_MODEL to a model directory or a hub id. Atelier "
    "never downloads a model you did not name."
)


def text_label(settings: Settings) -> str:
    """What writes text, in words: the cento default, or the model `text_model` names."""
    if settings.text_model in (None, "cento"):
        return "the cento poet (Gutenberg Poetry Corpus lines)"
    return text_model(settings)


def text_model(settings: Settings) -> str:
    """The generative model: ATELIER_TEXT_MODEL, else (unset, `cento` or `poet`) the bundled
    offline poet; never a surprise download."""
    if settings.text_model not in (None, "cento", "poet"):
        return str(settings.text_model)
    from worker.models import bundled_poet

    poet = bundled_poet()
    if poet is None:
        raise ConfigError(MISSING_TEXT_MODEL)
    return str(poet)


def on_signals(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


def run(body: Callable[[Settings], Coroutine[Any, Any, int]]) -> None:
    try:
        settings = load_settings()
    except Exception as exc:  # pydantic's message names the variable
        typer.echo(f"error: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None
    setup_logging(settings.log_level, settings.log_format)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code: int = asyncio.run(body(settings))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except RedisUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)
