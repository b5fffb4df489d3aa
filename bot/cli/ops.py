"""`atelier dlq`: the operators' commands for dead letters (part of the CLI)."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.run import run as _run
from bot.config import Settings
from bot.connections import connect, make_queue

dlq = typer.Typer(help="Dead letters: jobs that failed every attempt (operators).")


@dlq.command("list")
def dlq_list(
    count: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
) -> None:
    """Show dead letters: when, kind, job, command, reason, attempts."""

    async def body(settings: Settings) -> int:
        from bot.queue import dead_letters as dead

        redis = connect(settings, embedded_ok=False, what="atelier dlq")
        try:
            letters = await dead.list_dead(make_queue(redis, settings), count)
        finally:
            await redis.aclose()
        if not letters:
            typer.echo("No dead letters.")
        for d in letters:
            what = f"{d.job.id} /{d.job.command} {d.job.prompt[:40]}" if d.job else "(malformed)"
            typer.echo(f"{d.entry_id}  {d.kind:<5}  {what}  | {d.reason} ({d.attempts} attempts)")
        return 0

    _run(body)


@dlq.command("retry")
def dlq_retry(entry_ids: Annotated[list[str], typer.Argument(help="Dead-letter ids.")]) -> None:
    """Put the jobs of these dead letters back in line (attempts reset)."""
    _dlq_each(entry_ids, "retry")


@dlq.command("drop")
def dlq_drop(entry_ids: Annotated[list[str], typer.Argument(help="Dead-letter ids.")]) -> None:
    """Delete these dead letters."""
    _dlq_each(entry_ids, "drop")


def _dlq_each(entry_ids: list[str], action: str) -> None:
    async def body(settings: Settings) -> int:
        from bot.queue import dead_letters as dead

        redis = connect(settings, embedded_ok=False, what="atelier dlq")
        queue, failed = make_queue(redis, settings), 0
        try:
            for entry_id in entry_ids:
                try:
                    if action == "retry":
                        job_id = await dead.retry(queue, entry_id)
                        typer.echo(f"{entry_id}: job {job_id} is queued again")
                    else:
                        await dead.drop(queue, entry_id)
                        typer.echo(f"{entry_id}: dropped")
                except ValueError as exc:
                    typer.echo(f"error: {exc}", err=True)
                    failed += 1
        finally:
            await redis.aclose()
        return 1 if failed else 0

    _run(body)
