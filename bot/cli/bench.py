"""`atelier bench`: the benchmarks, each side by side in one run (part of the CLI, the
composition root: each command imports the worker or adapter it measures)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.run import run as _run
from bot.cli.run import text_model as _text_model
from bot.config import Settings

bench_app = typer.Typer(
    help="Benchmarks, each side by side in one run: a table, then one JSON line "
    "(docs/benchmarks.md records them).",
    no_args_is_help=True,
)
BENCH_REDIS = "redis://127.0.0.1:6379/15"
RedisOption = Annotated[
    str | None,
    typer.Option(
        "--redis-url", help=f"Redis to run on (default ATELIER_REDIS_URL, else {BENCH_REDIS})."
    ),
]


@bench_app.command("text")
def bench_text(
    n: Annotated[str, typer.Option("--n", help="Concurrent requests, comma-separated.")] = (
        "1,8,32,64"
    ),
    new_tokens: Annotated[int, typer.Option(min=1, max=1024, help="Tokens per request.")] = 64,
    model: Annotated[
        Path | None, typer.Option(help="A model directory (default: the bundled poet).")
    ] = None,
    build: Annotated[
        str | None,
        typer.Option(help="A random-weight model from a config instead: gpt2:LAYERSxWIDTH."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=512, help="The worker's batch.")] = 64,
    naive: Annotated[bool, typer.Option(help="Also run the naive bot.")] = True,
    static: Annotated[bool, typer.Option(help="Also run the static-batch worker.")] = True,
    arrival_ms: Annotated[
        float, typer.Option(min=0, help="Requests arrive this far apart (0: all at once).")
    ] = 0.0,
    repeats: Annotated[
        int, typer.Option(min=1, help="Rounds per N at least (small N run more anyway).")
    ] = 1,
    first_tokens: Annotated[
        int, typer.Option(min=0, max=4096, help="Tokens for the first request (0: as the rest).")
    ] = 0,
    matmul_s: Annotated[float, typer.Option(help="Seconds per matmul-peak measurement.")] = 1.0,
    redis_url: RedisOption = None,
) -> None:
    """The naive bot (one pipeline() call per request) against the worker via the queue."""

    async def body(settings: Settings) -> int:
        import shutil

        from worker.bench.text import bench_text, build_model, scratch_dir, text_rows

        counts = [int(v) for v in n.split(",") if v.strip()]
        source = model or Path(_text_model(settings))
        if build:
            source = build_model(build, source, scratch_dir() / build.replace(":", "-"))
        redis = _bench_redis(settings, redis_url)
        try:
            report = await bench_text(
                redis=redis,
                model=source,
                counts=counts,
                new_tokens=new_tokens,
                device=settings.device,
                batch_size=batch_size,
                naive=naive,
                static=static,
                arrival_ms=arrival_ms,
                repeats=repeats,
                first_tokens=first_tokens,
                matmul_s=matmul_s,
            )
        finally:
            await redis.aclose()
            if build:
                shutil.rmtree(source.parent, ignore_errors=True)
        return _bench_report("text", report, text_rows(report))

    _run(body)


@bench_app.command("queue")
def bench_queue(
    jobs: Annotated[int, typer.Option(min=1, help="Jobs per phase and side.")] = 2000,
    rate: Annotated[float, typer.Option(min=1, help="Jobs/s of the steady phase.")] = 500.0,
    batch_size: Annotated[int, typer.Option(min=1, max=512)] = 32,
    concurrency: Annotated[int, typer.Option(min=1, max=16)] = 2,
    arq: Annotated[bool, typer.Option(help="Also run arq on the same Redis.")] = True,
    arq_poll_ms: Annotated[float, typer.Option(help="arq's poll delay.")] = 5.0,
    redis_url: RedisOption = None,
    cluster_url: Annotated[
        str | None,
        typer.Option(
            "--cluster-url",
            help="Also run Atelier on this Redis Cluster (redis+cluster://host:port), taking "
            "turns with --redis-url, side by side with the ratio (arq: the single Redis only).",
        ),
    ] = None,
) -> None:
    """Enqueue -> pick-up -> result through Redis with a no-op job, against arq."""

    async def body(settings: Settings) -> int:
        from bot.cluster import is_cluster_url
        from bot.errors import ConfigError
        from worker.bench.queue import bench_queue, queue_rows

        single = _bench_url(settings, redis_url)
        if cluster_url is not None and not is_cluster_url(cluster_url):
            raise ConfigError("--cluster-url must be redis+cluster://host:port (any one node)")
        if arq and is_cluster_url(single):
            raise ConfigError(
                "arq needs a single Redis, and --redis-url (or ATELIER_REDIS_URL) is a "
                "cluster: give the cluster as --cluster-url, or add --no-arq"
            )
        report = await bench_queue(
            redis_url=single,
            cluster_url=cluster_url,
            jobs=jobs,
            rate=rate,
            batch_size=batch_size,
            concurrency=concurrency,
            arq=arq,
            arq_poll_ms=arq_poll_ms,
        )
        return _bench_report("queue", report, queue_rows(report))

    _run(body)


@bench_app.command("e2e")
def bench_e2e(
    commands: Annotated[int, typer.Option(min=1, help="Signed /poem commands sent at once.")] = 100,
    batch_size: Annotated[int, typer.Option(min=1, max=512, help="The worker's batch.")] = 64,
    model: Annotated[
        Path | None, typer.Option(help="A model directory (default: the bundled poet).")
    ] = None,
    redis_url: RedisOption = None,
) -> None:
    """Signed /poem commands through `atelier slack --port` and a worker, to posted results."""

    async def body(settings: Settings) -> int:
        from adapters.slack.bench import bench_e2e, e2e_rows

        report = await bench_e2e(
            redis_url=_bench_url(settings, redis_url),
            commands=commands,
            model=str(model) if model else settings.text_model,
            batch_size=batch_size,
        )
        return _bench_report("e2e", report, e2e_rows(report))

    _run(body)


@bench_app.command("web")
def bench_web(
    pieces: Annotated[int, typer.Option(min=1, help="Pieces stored in the gallery.")] = 10_000,
    requests: Annotated[int, typer.Option(min=1, help="Page loads per case.")] = 500,
    redis_url: RedisOption = None,
) -> None:
    """Web gallery page latency: pages of 50 from a gallery of `pieces`, over loopback HTTP."""

    async def body(settings: Settings) -> int:
        from bot.web.bench import bench_web as run_bench

        redis = _bench_redis(settings, redis_url)
        try:
            report = await run_bench(redis=redis, pieces=pieces, requests=requests)
        finally:
            await redis.aclose()
        return _bench_report("web", report, report["rows"])

    _run(body)


def _bench_report(name: str, report: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    """Every benchmark's output: the machine added, a table, then one JSON line."""
    from bot.benchmarks import json_line, machine, table

    report["machine"] = machine()
    typer.echo(table(rows, list(rows[0])))
    typer.echo(json_line(name, report))
    return 0


def _bench_url(settings: Settings, given: str | None) -> str:
    if given:
        return given
    return settings.redis_url.get_secret_value() if settings.redis_url else BENCH_REDIS


def _bench_redis(settings: Settings, given: str | None) -> Any:
    from redis.asyncio import Redis

    return Redis.from_url(_bench_url(settings, given), decode_responses=True)
