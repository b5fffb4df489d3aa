"""The worker loop: read jobs, batch compatible ones, generate in a thread, publish, ack.

It owns the queue, signals, batching and retries; generators only generate. A job is acked
only after its result is stored and published (`JobQueue.finish`, one atomic script). A
malformed entry is dead-lettered; a job that raises is retried alone with backoff and
dead-lettered after `max_attempts`, with an error result for the user. The loop never dies
on a job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bot import artifacts
from bot.errors import ConfigError, PoisonJob, UserError
from bot.jobs import Job, JobKind, Progress, Provenance, Result, load_job
from bot.queue import Entry, JobQueue
from bot.server_settings import SettingsStore
from worker.generators.base import Generator, Output

log = logging.getLogger(__name__)

GAVE_UP = (
    "Sorry, this job failed {n} times and was set aside for the operators. "
    "Try again later, or with another prompt."
)


@dataclass
class Item:
    entry: Entry
    job: Job
    attempts: int


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        generators: Sequence[Generator],
        *,
        worker_id: str | None = None,
        batch_size: int = 16,
        concurrency: int = 1,
        heartbeat_s: float = 5.0,
        max_attempts: int = 3,
        block_ms: int = 1000,
        backoff_s: float = 0.5,
        gather_ms: float | None = None,
    ) -> None:
        self.queue = queue
        self.settings = SettingsStore(queue.redis, keys=queue.keys)
        self.generators = {g.kind: g for g in generators}
        self.kinds = list(self.generators)
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.heartbeat_s = heartbeat_s
        self.max_attempts = max_attempts
        self.block_ms = block_ms
        self.backoff_s = backoff_s
        # How long a read keeps collecting a burst: as long as the slowest generator asks
        # (a model pays per batch, so waiting for batch mates pays; a cheap job does not).
        self.gather_ms = (
            gather_ms
            if gather_ms is not None
            else max((float(getattr(g, "gather_ms", 0.0)) for g in generators), default=0.0)
        )
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self._gpu = asyncio.Lock()  # one generate call at a time per worker process
        self._in_flight: dict[JobKind, set[str]] = defaultdict(set)

    # Lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        for gen in self.generators.values():
            try:
                await asyncio.to_thread(gen.load)
                await asyncio.to_thread(gen.warmup)
            except Exception as exc:  # a wrong model id or path: say which, do not trace
                raise ConfigError(
                    f"Could not load the {gen.kind.value} model {gen.model_id!r}: {exc}"
                ) from exc
        for kind in self.kinds:
            await self.queue.ensure_group(kind)
        await self._beat()
        self.ready.set()
        log.info("worker %s ready for %s", self.id, ", ".join(k.value for k in self.kinds))
        beats = asyncio.create_task(self._heartbeats())
        reclaims = asyncio.create_task(self._reclaims())
        try:
            await asyncio.gather(*(self._consume() for _ in range(self.concurrency)))
        finally:
            # The reclaimer, too, finishes the batch in hand; heartbeats go on until it has.
            self.stopping.set()
            await asyncio.gather(reclaims, return_exceptions=True)
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
            await asyncio.shield(self.queue.retire(self.kinds, self.id))
            log.info("worker %s stopped", self.id)

    def stop(self) -> None:
        """Finish the batch in hand, then exit (SIGTERM)."""
        self.stopping.set()

    async def _consume(self, kinds: Sequence[JobKind] | None = None) -> None:
        kinds = list(kinds or self.kinds)
        while not self.stopping.is_set():
            try:
                entries = await self.queue.read(kinds, self.id, self.batch_size, self.block_ms)
                await self.process(await self._gather(entries, kinds))
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis blip or a bug: log, pause, keep serving
                log.exception("worker loop error; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def _gather(
        self, entries: list[Entry], kinds: Sequence[JobKind] | None = None
    ) -> list[Entry]:
        """Jobs sent together reach the stream over a few milliseconds, and the blocked read
        wakes on the first: keep reading while more keep coming (up to gather_ms), so a
        burst shares one batch instead of one job going first alone."""
        deadline = time.monotonic() + self.gather_ms / 1000
        while entries and len(entries) < self.batch_size and time.monotonic() < deadline:
            more = await self.queue.read(
                list(kinds or self.kinds), self.id, self.batch_size - len(entries), 10
            )
            if not more:
                break
            entries.extend(more)
        return entries

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._beat()
                for kind, ids in list(self._in_flight.items()):
                    await self.queue.touch(kind, self.id, sorted(ids))
            except Exception:
                log.warning("heartbeat failed", exc_info=True)

    async def _beat(self) -> None:
        info = {
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "kinds": ",".join(k.value for k in self.kinds),
            "models": ",".join(g.model_id for g in self.generators.values()),
            "at": f"{time.time():.0f}",
        }
        await self.queue.heartbeat(self.kinds, self.id, info, self.heartbeat_s)

    async def _reclaims(self) -> None:
        interval = max(min(self.queue.visibility_timeout_s / 4, 30.0), 0.2)
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            for kind in self.kinds:
                try:
                    entries = await self.queue.reclaim(kind, self.id, self.batch_size)
                    if entries:
                        log.warning(
                            "reclaimed %d %s job(s) left by a dead worker", len(entries), kind.value
                        )
                        await self.process(entries)
                except Exception:
                    log.warning("reclaim failed", exc_info=True)

    # Jobs ------------------------------------------------------------------------------
    async def process(self, entries: Sequence[Entry]) -> None:
        groups: dict[tuple[str, ...], list[Item]] = defaultdict(list)
        # In flight from now on: heartbeats keep these entries from being reclaimed while
        # they wait for the model as well as while they generate.
        for entry in entries:
            self._in_flight[entry.kind].add(entry.entry_id)
        try:
            for entry in entries:
                item = await self._admit(entry)
                if item is None:
                    continue
                wrong = self._model_mismatch(item.job)
                if wrong:
                    await self._publish([item], [Output(error=wrong)], 0.0)
                else:
                    groups[item.job.batch_key()].append(item)
            for items in groups.values():
                await self._run_batch(items)
        finally:
            for entry in entries:
                self._in_flight[entry.kind].discard(entry.entry_id)

    async def _admit(self, entry: Entry) -> Item | None:
        """Parse an entry and count the attempt; bury poison and over-tried jobs."""
        try:
            job = load_job(entry.fields.get("job", ""))
            if job.kind is not entry.kind or job.kind not in self.generators:
                raise PoisonJob(f"a {job.kind.value} job in the {entry.kind.value} stream")
        except PoisonJob as exc:
            log.error("dead-lettering malformed entry %s: %s", entry.entry_id, exc)
            await self.queue.bury(entry.kind, entry.entry_id, entry.fields, str(exc))
            return None
        attempts = await self.queue.start_attempt(job, self.id)
        if attempts > self.max_attempts:
            await self._give_up(Item(entry, job, attempts - 1), "crashed its worker")
            return None
        return Item(entry, job, attempts)

    def _model_mismatch(self, job: Job) -> str:
        """A job that names a model this worker does not serve gets a clear error."""
        served = self.generators[job.kind].model_id
        if not job.model or job.model == served:
            return ""
        return (
            f"This server asks for the {job.kind.value} model {job.model!r}, but the workers "
            f"here serve {served!r}. An admin can change it with "
            f"/atelier settings key:{job.kind.value}_model value:default"
        )

    async def _run_batch(self, items: list[Item]) -> None:
        try:
            outputs, took = await self._generate(items)
        except asyncio.CancelledError:
            raise
        except Exception:
            if len(items) > 1:  # find the poison job: run each alone
                log.warning(
                    "batch of %d failed; retrying its jobs one by one", len(items), exc_info=True
                )
                for item in items:
                    await self._run_alone(item, first_try_done=False)
            else:
                await self._run_alone(items[0], first_try_done=True)
            return
        await self._publish(items, outputs, took)

    async def _run_alone(self, item: Item, *, first_try_done: bool) -> None:
        while True:
            if first_try_done:
                if item.attempts >= self.max_attempts:
                    await self._give_up(item, "raised on every attempt")
                    return
                await asyncio.sleep(self.backoff_s * 2 ** (item.attempts - 1))
                item.attempts = await self.queue.start_attempt(item.job, self.id)
            first_try_done = True
            try:
                outputs, took = await self._generate([item])
            except asyncio.CancelledError:
                raise
            except UserError as exc:
                await self._publish([item], [Output(error=str(exc))], 0.0)
                return
            except Exception:
                log.exception(
                    "job %s failed (attempt %d of %d)",
                    item.job.id,
                    item.attempts,
                    self.max_attempts,
                )
                continue
            await self._publish([item], outputs, took)
            return

    async def _generate(self, items: list[Item]) -> tuple[list[Output], float]:
        kind = items[0].job.kind
        gen = self.generators[kind]
        jobs = [item.job for item in items]
        loop = asyncio.get_running_loop()

        def progress(fraction: float, partials: Sequence[str] | None) -> None:
            asyncio.run_coroutine_threadsafe(self._progress(jobs, fraction, partials), loop)

        async with self._gpu:
            started = time.perf_counter()
            outputs = await asyncio.to_thread(gen.generate, jobs, progress)
        if len(outputs) != len(jobs):
            raise RuntimeError(f"{gen.name} returned {len(outputs)} outputs for {len(jobs)} jobs")
        return outputs, time.perf_counter() - started

    async def _progress(
        self, jobs: list[Job], fraction: float, partials: Sequence[str] | None
    ) -> None:
        try:
            for i, job in enumerate(jobs):
                partial = partials[i] if partials else ""
                await self.queue.publish_progress(
                    Progress(
                        job_id=job.id,
                        fraction=fraction,
                        partial_text=partial[-1500:],
                        origin=job.origin,
                    )
                )
        except Exception:
            log.debug("progress publish failed", exc_info=True)

    async def _publish(self, items: list[Item], outputs: list[Output], took: float) -> None:
        batch_id = uuid.uuid4().hex[:12]
        gen = self.generators[items[0].job.kind]
        for item, out in zip(items, outputs, strict=True):
            job = item.job
            out = await self._moderate(job, out)
            provenance = Provenance(
                model=gen.model_id,
                generator=gen.name,
                seed=job.seed,
                settings=out.settings,
                device=gen.device,
                duration_s=round(took, 3),
                batch_id=batch_id,
                batch_size=len(items),
                worker=self.id,
            )
            files = [(f.filename, f.content_type, f.data, f.description) for f in out.files]
            attachments = await artifacts.store(
                self.queue.redis, self.queue.keys, job.id, files, ttl_s=self.queue.job_ttl_s
            )
            result = Result(
                job_id=job.id,
                ok=not out.error,
                command=job.command,
                prompt=job.prompt,
                text=out.text,
                error=out.error,
                note=out.note,
                provenance=provenance,
                attachments=attachments,
                origin=job.origin,
                attempts=item.attempts,
            )
            # Shielded: a SIGTERM or cancel must not cut the bookkeeping after a job in half.
            await asyncio.shield(self.queue.finish(job.kind, item.entry.entry_id, result))

    async def _moderate(self, job: Job, out: Output) -> Output:
        """A piece that contains one of its server's moderation words is withheld."""
        if out.error or not job.origin.guild_id or not out.text:
            return out
        try:
            server = await self.settings.get(job.origin.platform, job.origin.guild_id)
        except Exception:  # settings unreadable: withhold nothing, say so in the log
            log.warning("could not read the settings of %s", job.origin.guild_id, exc_info=True)
            return out
        word = server.blocked_word(out.text)
        if word is None:
            return out
        log.info("withheld the result of %s: a moderation word of its server", job.id)
        return Output(
            settings=out.settings,
            error=(
                f"The piece was withheld: it contains '{word}', a word this server does not "
                "allow. Try again (Regenerate uses a new seed) or change the prompt."
            ),
        )

    async def _give_up(self, item: Item, why: str) -> None:
        job = item.job
        log.error("dead-lettering job %s after %d attempt(s): %s", job.id, item.attempts, why)
        result = Result(
            job_id=job.id,
            ok=False,
            command=job.command,
            prompt=job.prompt,
            error=GAVE_UP.format(n=item.attempts),
            origin=job.origin,
            attempts=item.attempts,
        )
        record = {
            "job": job.model_dump(mode="json"),
            "kind": job.kind.value,
            "reason": why,
            "attempts": item.attempts,
            "worker": self.id,
            "at": time.time(),
        }
        await asyncio.shield(
            self.queue.finish(job.kind, item.entry.entry_id, result, dead_letter=record)
        )
