"""`atelier chat`: a terminal channel. Type `/poem the sea form:haiku`, see the place in
line, progress and the result with its provenance. Piped stdin works too (one command a
line): after the last line it waits for every accepted job's result, then exits. Files that
come with results (images) are saved under ./atelier-output/ and their paths printed.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from redis.exceptions import RedisError
from rich.console import Console
from rich.markup import escape

from bot.commands.render import gave_up_text, held_text, progress_text, render_result
from bot.desk.front_desk import FrontDesk
from bot.desk.holding import hold
from bot.jobs import Origin, Result
from bot.outage import Outage
from bot.queue import artifacts
from bot.queue.inbox import Event, ResultInbox
from bot.queue.streams import JobQueue
from bot.replies import Reply

PROMPT = "atelier> "
READ_BLOCK_S = 0.5
OUTPUT_DIR = Path("atelier-output")
log = logging.getLogger(__name__)


class ConsoleChat:
    def __init__(
        self,
        desk: FrontDesk,
        inbox: ResultInbox,
        *,
        session: str,
        user: str | None = None,
        out: TextIO | None = None,
        interactive: bool = False,
        output_dir: Path = OUTPUT_DIR,
        reconnect_s: float = 60.0,
    ) -> None:
        self.reconnect_s = reconnect_s  # how long a command is held while Redis is down
        self.desk = desk
        self.inbox = inbox
        self.session = session
        self.user = user or _user()
        self.console = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)
        self.interactive = interactive
        self.output_dir = output_dir
        self.pending: dict[str, int] = {}  # job id -> the line number that asked for it
        self.progress_seen: dict[str, int] = {}
        self._count = 0
        self._closing = False
        self._all_done = asyncio.Event()
        self._all_done.set()

    async def _say(self, text: str) -> None:
        self.console.print(text)

    @staticmethod
    def route_for(session: str) -> str:
        return f"console:{session}"

    async def run(self, lines: AsyncIterator[str], *, wait_s: float = 600.0) -> int:
        """Serve lines until EOF or /quit; then wait for outstanding results. Exit code:
        0 when every accepted job answered, 3 when some were still running at wait_s."""
        await self.inbox.ensure_group()
        reader = asyncio.create_task(self._read_results())
        try:
            async for line in lines:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if line in ("/quit", "/exit"):
                    break
                await self.submit(line)
            try:
                await asyncio.wait_for(self._all_done.wait(), timeout=wait_s)
            except TimeoutError:
                self.console.print(
                    f"[yellow]{len(self.pending)} job(s) still running after "
                    f"{wait_s:.0f} s; they stay queued.[/]"
                )
                return 3
            return 0
        finally:
            # Let the reader finish its current blocking read rather than cancel it mid-read:
            # a cancelled blocking call can leave an in-process store's connection stuck.
            self._closing = True
            try:
                await asyncio.wait_for(asyncio.shield(reader), timeout=READ_BLOCK_S + 2.0)
            except (TimeoutError, asyncio.CancelledError):
                reader.cancel()

    async def submit(self, line: str) -> None:
        self._count += 1
        n = self._count
        if not self.interactive:
            self.console.print(f"[dim]> {escape(line)}[/]")
        origin = Origin(
            platform="console",
            route=self.route_for(self.session),
            channel_id="terminal",
            user_id=self.user,
            user_name=self.user,
            delivery_id=f"{self.session}:{n}",
        )
        try:  # held while Redis does not answer (`bot.desk.holding`), the member told at once
            found = await hold(
                lambda: self.desk.handle(line, origin),
                window_s=self.reconnect_s,
                on_hold=lambda: self._say(f"[cyan][{n}][/] {held_text(self.reconnect_s)}"),
            )
        except RedisError as exc:  # the queue refused: say so, keep the channel open
            log.warning("could not queue %r: %s", line, exc)
            found = Reply(
                "the job queue (Redis) is not answering; nothing was queued. "
                "Try again in a moment.",
                error=True,
            )
        reply = found or Reply(gave_up_text(self.reconnect_s), error=True)
        if reply.error:
            self.console.print(f"[red]error:[/] {escape(reply.text)}")
            return
        if reply.job_id is None:
            self.console.print(escape(reply.text))
            return
        for job_id in (reply.job_id, *reply.more_jobs):
            self.pending[job_id] = n
        self._all_done.clear()
        self.console.print(f"[cyan][{n}][/] {escape(reply.text)}")

    async def _read_results(self) -> None:
        pending = True  # our unacked events first (after a reconnect), then new ones
        outage = Outage(log, "console results")
        while not self._closing:
            try:
                block_ms = int(READ_BLOCK_S * 1000)
                events = await self.inbox.read(pending=pending, block_ms=block_ms)
                outage.ok()
                for event in events:
                    await self._handle(event)
                pending = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a Redis blip: say so, keep listening
                outage.failed(exc, "reading results failed; retrying in 1 s", level=30)
                await asyncio.sleep(1.0)

    async def _handle(self, event: Event) -> None:
        n = self.pending.get(event.job_id)
        if event.progress is not None:
            if n is not None:
                self._show_progress(n, event)
            await self.inbox.ack(event.entry_id)
            return
        if event.result is None or not await self.inbox.claim(event.job_id):
            await self.inbox.ack(event.entry_id)  # unreadable, or posted already
            return
        message = render_result(event.result)
        tag = f"[{n}]" if n is not None else "[?]"
        if message.error:
            self.console.print(f"[cyan]{tag}[/] [red]{escape(message.body)}[/]")
        else:
            self.console.print(f"[cyan]{tag}[/] [bold]{escape(message.title)}[/]")
            for text_line in message.body.splitlines():
                self.console.print(f"    {escape(text_line)}")
            self.console.print(f"    [dim]— {escape(message.footer)}[/]")
            await self._save_attachments(event.result)
        await self.inbox.delivered(event)
        self.pending.pop(event.job_id, None)
        if not self.pending:
            self._all_done.set()

    async def _save_attachments(self, result: Result) -> None:
        """Each file of the result under the output folder; the terminal shows where."""
        for attachment in result.attachments:
            data = await artifacts.fetch(self.desk.redis, attachment)
            if data is None:
                self.console.print(f"    [yellow]{escape(attachment.filename)} has expired[/]")
                continue
            path = self.output_dir / Path(attachment.filename).name
            await asyncio.to_thread(_write, path, data)
            self.console.print(
                f"    saved {escape(str(path))} ({_size(len(data))}, {attachment.content_type})"
            )

    def _show_progress(self, n: int, event: Event) -> None:
        assert event.progress is not None
        percent = round(event.progress.fraction * 100)
        if self.progress_seen.get(event.job_id, -1) >= percent:
            return
        self.progress_seen[event.job_id] = percent
        self.console.print(f"[cyan][{n}][/] [dim]{escape(progress_text(event.progress))}[/]")


async def stdin_lines(interactive: bool) -> AsyncIterator[str]:
    """Lines from stdin without blocking the event loop (a thread does the reading)."""
    while True:
        if interactive:
            try:
                line = await asyncio.to_thread(input, PROMPT)
            except EOFError:
                return
            yield line
        else:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            yield line


def new_session() -> str:
    return uuid.uuid4().hex[:12]


async def run_console(
    queue: JobQueue, *, ttl_s: int, wait_s: float, reconnect_s: float = 60.0
) -> int:
    """A console session on stdin/stdout; its result stream is removed when it ends."""
    session = new_session()
    interactive = sys.stdin.isatty()
    inbox = ResultInbox(
        queue.redis, ConsoleChat.route_for(session), "console", keys=queue.keys, ttl_s=ttl_s
    )
    chat = ConsoleChat(
        FrontDesk(queue),
        inbox,
        session=session,
        interactive=interactive,
        reconnect_s=reconnect_s,
    )
    try:
        return await chat.run(stdin_lines(interactive), wait_s=wait_s)
    finally:
        await inbox.drop()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.0f} KB"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "you"
