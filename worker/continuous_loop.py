"""The worker with continuous batching for text: jobs join the running batch at the next step.

`ContinuousWorker` is the `Worker` (same queue handling, retries, dead letters, publishing,
heartbeats, reclaims) with one difference for text jobs: instead of read -> generate the
whole batch -> publish, a reader task keeps admitting jobs while a stepper task advances a
`ContinuousBatcher` one token at a time in the generation thread. Each job is published the
moment its rows finish; progress goes out from the event loop while the next step runs.
Other kinds, reclaimed jobs, and a step that raised (its jobs are retried one by one to find
the poison one) take the static path of `Worker`. A model whose cache the scheduler cannot
slice keeps the static path for text too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bot.jobs import Job, JobKind, Progress
from bot.outage import Outage
from bot.queue.streams import Entry
from worker.decoding.batcher import ContinuousBatcher, Step, supports
from worker.generators.base import Output
from worker.generators.text_lm import TextGenerator
from worker.loop import Item, Worker

log = logging.getLogger(__name__)
TEXT = JobKind.TEXT
STEPS_FOR_S = 1.0  # at most this long in the generation thread before looking around
RATE_WINDOW_S = 10.0  # the items/s metric counts jobs finished over this window


class ContinuousWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batcher: ContinuousBatcher | None = None
        self._text_loop = False  # the continuous loop runs once, whatever the concurrency
        self._static_text = False  # the text model cannot be scheduled: static batches
        self._deciding = asyncio.Lock()
        self._items: dict[int, Item] = {}  # id(job) -> its item, from admission to publish
        self._joined: dict[int, float] = {}  # id(job) -> when it joined the batch
        self._new: list[Item] = []  # admitted, not yet handed to the batcher
        self._arrivals = threading.Event()  # set while _new is not empty (read by the thread)
        self._wake = asyncio.Event()  # new jobs, or stopping
        self._room = asyncio.Event()  # a job finished: the reader may admit more
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished_at: deque[float] = deque()  # when recent jobs finished (the rate)
        self._started = time.monotonic()

    async def _consume(self, kinds: Sequence[JobKind] | None = None) -> None:
        """Called `concurrency` times: the first runs the continuous text loop (and a static
        loop for the other kinds), the rest static loops for the other kinds only."""
        others = [k for k in self.kinds if k is not TEXT]
        if TEXT not in self.generators or not await self._continuous():
            await super()._consume(self.kinds)
            return
        if self._text_loop:
            if others:
                await super()._consume(others)
            return
        self._text_loop = True
        log.info("text jobs use continuous batching (up to %d jobs)", self.batch_size)
        loops = [self._read_text(), self._step_text()]
        if others:
            loops.append(super()._consume(others))
        await asyncio.gather(*loops)

    async def _continuous(self) -> bool:
        """Whether the text model suits the scheduler (decided once, by the first caller)."""
        async with self._deciding:
            if self.batcher is None and not self._static_text:
                gen = self.generators[TEXT]
                if isinstance(gen, TextGenerator) and await asyncio.to_thread(supports, gen):
                    self.batcher = ContinuousBatcher(gen)
                else:
                    log.info("text model %s keeps the static batch path", gen.model_id)
                    self._static_text = True
        return self.batcher is not None

    # Reading ---------------------------------------------------------------------------
    async def _read_text(self) -> None:
        outage = Outage(log, "worker read")
        while not self.stopping.is_set():
            room = self.batch_size - len(self._items)
            if room <= 0:
                self._room.clear()
                await _wait(self._room, 0.2)
                continue
            try:
                # Held from delivery on (`Worker._read`), so the worker's check for lost
                # deliveries never runs a job this loop has in hand.
                entries = await self._read(room, self.block_ms, [TEXT])
                outage.ok()
                if entries and self.batcher is not None and self.batcher.idle:
                    entries = await self._gather(entries, [TEXT])  # a burst starts together
                await self._admit_text(entries)
                if self._new:  # the whole read joins at one step
                    self._arrivals.set()
                    self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or a bug: log, pause, keep serving
                outage.failed(exc, "worker read error; retrying in 1 s")
                await asyncio.sleep(1.0)
        self._wake.set()

    async def _admit_text(self, entries: Sequence[Entry]) -> None:
        """Count attempts (one round trip), screen prompts, then queue them for the batcher;
        whatever ends here (buried, refused, the wrong model) is released at once."""
        items = await self._admit(entries)
        kept: list[Item] = []
        for item in items:
            wrong = self._model_mismatch(item.job)
            if wrong:
                await self._publish([item], [Output(error=wrong)], 0.0)
            else:
                kept.append(item)
        kept = await self._screen_prompts(kept)
        joining = {item.entry.entry_id for item in kept}
        self._release([entry for entry in entries if entry.entry_id not in joining])
        for item in kept:
            self._items[id(item.job)] = item
            self._new.append(item)

    # Stepping --------------------------------------------------------------------------
    async def _step_text(self) -> None:
        batcher = self.batcher
        assert batcher is not None
        loop = asyncio.get_running_loop()

        def report(progress: list[tuple[Job, float, str | None]]) -> None:  # from the thread
            loop.call_soon_threadsafe(self._spawn, self._report(progress))

        while True:
            if not self._new and batcher.idle:
                if self.stopping.is_set():
                    break
                self._wake.clear()
                await _wait(self._wake, 0.2)
                continue
            new, self._new = self._new, []
            self._arrivals.clear()
            now = time.monotonic()
            for item in new:
                self._joined[id(item.job)] = now
            try:
                async with self._gpu:
                    step = await asyncio.to_thread(
                        _advance, batcher, [i.job for i in new], self._arrivals, report
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                await self._step_failed(batcher)
                continue
            self._hand_out(step)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _hand_out(self, step: Step) -> None:
        """Publish what the step finished and report progress, without holding up the next."""
        if not step.finished:
            return
        now = time.monotonic()
        items = [self._items.pop(id(job)) for job, _ in step.finished]
        outputs = [out for _, out in step.finished]
        took = max(now - self._joined.pop(id(item.job), now) for item in items)
        # Jobs overlap here: the seconds are the longest finished job's; the rate is what
        # finished over the last RATE_WINDOW_S.
        self._finished_at.extend([now] * len(items))
        while self._finished_at and self._finished_at[0] < now - RATE_WINDOW_S:
            self._finished_at.popleft()
        window = min(RATE_WINDOW_S, max(now - self._started, 1e-3))
        rate = len(self._finished_at) / window
        self.metrics.batch_generated(TEXT, len(items), took, rate=rate)
        self._spawn(self._publish_done(items, outputs, took))
        self._room.set()

    async def _report(self, progress: list[tuple[Job, float, str | None]]) -> None:
        """A step's progress in one round trip: one call per job cost 20-40 ms of the event
        loop for 64 jobs, CPU the generation thread then waits for."""
        try:
            await self.queue.publish_progress(
                *(
                    Progress(
                        job_id=job.id,
                        fraction=fraction,
                        partial_text=(partial or "")[-1500:],
                        origin=job.origin,
                        command=job.command,
                        prompt=job.prompt,
                    )
                    for job, fraction, partial in progress
                )
            )
        except Exception:
            log.debug("progress publish failed", exc_info=True)

    async def _publish_done(self, items: list[Item], outputs: list[Output], took: float) -> None:
        try:
            await self._publish(items, outputs, took)
            self.finishing.ok()
        except Exception as exc:  # Redis down: the entries stay pending and are reclaimed later
            self.finishing.failed(exc, f"could not publish {len(items)} finished job(s)")
        finally:
            for item in items:
                self._in_flight[TEXT].discard(item.entry.entry_id)

    async def _step_failed(self, batcher: ContinuousBatcher) -> None:
        """A step raised: take every job out of the batch and run them on the static path,
        which retries them one by one and buries the one that keeps failing."""
        batcher.drop_all()
        waiting = {id(item.job) for item in self._new}  # arrived during the step: keep them
        items = [item for key, item in self._items.items() if key not in waiting]
        log.warning("continuous step failed; retrying %d job(s) alone", len(items), exc_info=True)
        for item in items:
            self._items.pop(id(item.job), None)
            self._joined.pop(id(item.job), None)
        try:
            await self._run_batch(items)
        finally:
            for item in items:
                self._in_flight[TEXT].discard(item.entry.entry_id)
            self._room.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _advance(
    batcher: ContinuousBatcher,
    jobs: list[Job],
    arrivals: threading.Event,
    report: Callable[[list[tuple[Job, float, str | None]]], None],
) -> Step:
    """In the generation thread: add the new jobs, then step until a job finished, a new
    one is waiting to join, or STEPS_FOR_S has passed. Progress goes out through `report`
    without leaving the thread. Handing back every step would cost two thread switches a
    token, which on a busy machine (more runnable threads than cores) can take longer than
    the step itself."""
    out = Step(finished=batcher.add(jobs))
    deadline = time.monotonic() + STEPS_FOR_S
    while not batcher.idle:
        step = batcher.step()
        out.finished += step.finished
        if step.progress:
            report(step.progress)
        if out.finished or arrivals.is_set() or time.monotonic() > deadline:
            break
    return out


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until the event is set, or `seconds` pass (so a stop is noticed)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
