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

from bot.desk.moderation import ModLog, refusal_text, screen_result, withheld_text
from bot.desk.server_settings import ServerSettings, SettingsStore
from bot.errors import ConfigError, PoisonJob, UserError
from bot.jobs import Job, JobKind, Progress, Provenance, Result, load_job
from bot.logs import job_scope
from bot.metrics import Metrics
from bot.outage import Outage
from bot.queue import artifacts
from bot.queue.fairness import Fairness
from bot.queue.streams import Entry, Finish, JobQueue
from worker.generators.base import Generator, Output
from worker.memory import keep_freed_memory
from worker.moderation import TextClassifier

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
        classifier: TextClassifier | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.queue = queue
        self.metrics = metrics or Metrics()
        self.settings = SettingsStore(queue.redis, keys=queue.keys)
        self.fairness = Fairness(queue, self.settings)  # per-server lines (bot.queue.fairness)
        self.fairness_sweep_s = 5.0
        self.modlog = ModLog(queue.redis, keys=queue.keys)
        self.classifier = classifier
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
        # Finishing a job touches Redis (settings, the moderation log, slots, publishing):
        # while it is down, one line per period instead of a traceback per job.
        self.finishing = Outage(log, "finishing jobs")
        self._gpu = asyncio.Lock()  # one generate call at a time per worker process
        self._in_flight: dict[JobKind, set[str]] = defaultdict(set)
        # Every call that hands entries to this consumer (read, reclaim, re-read) holds them
        # before it lets go of this lock, so "pending for us but not held" means "lost".
        self._deliveries = asyncio.Lock()
        self._lost = asyncio.Event()  # a loop error: look for lost deliveries now

    # Lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        keep_freed_memory()  # before the models load: their steps reuse freed blocks
        for gen in self.generators.values():
            try:
                await asyncio.to_thread(gen.load)
                await asyncio.to_thread(gen.warmup)
            except Exception as exc:  # a wrong model id or path: say which, do not trace
                raise ConfigError(
                    f"Could not load the {gen.kind.value} model {gen.model_id!r}: {exc}"
                ) from exc
        if self.classifier is not None:
            try:
                await asyncio.to_thread(self.classifier.load)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(
                    f"Could not load the moderation classifier {self.classifier.name!r}: {exc}"
                ) from exc
        for kind in self.kinds:
            await self.queue.ensure_group(kind)
        await self._wait_for_predecessor()
        await self._beat()
        self.ready.set()
        log.info("worker %s ready for %s", self.id, ", ".join(k.value for k in self.kinds))
        beats = asyncio.create_task(self._heartbeats())
        reclaims = asyncio.create_task(self._reclaims())
        sweeps = asyncio.create_task(
            self.fairness.sweep_forever(self.kinds, self.stopping, self.fairness_sweep_s)
        )
        try:
            await asyncio.gather(*(self._consume() for _ in range(self.concurrency)))
        finally:
            # The reclaimer, too, finishes the batch in hand; heartbeats go on until it has.
            self.stopping.set()
            await asyncio.gather(reclaims, sweeps, return_exceptions=True)
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
            await asyncio.shield(self.queue.retire(self.kinds, self.id))
            log.info("worker %s stopped", self.id)

    def stop(self) -> None:
        """Finish the batch in hand, then exit (SIGTERM)."""
        self.stopping.set()

    async def _consume(self, kinds: Sequence[JobKind] | None = None) -> None:
        kinds = list(kinds or self.kinds)
        outage = Outage(log, "worker loop")
        while not self.stopping.is_set():
            entries: list[Entry] = []
            try:
                entries = await self._read(self.batch_size, self.block_ms, kinds)
                outage.ok()
                await self.process(await self._gather(entries, kinds))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or a bug: log, pause, keep serving
                outage.failed(exc, "worker loop error; retrying in 1 s")
                self._lost.set()  # what this read was given is re-read, not left to the timeout
                await asyncio.sleep(1.0)
            finally:
                self._release(entries)

    async def _read(
        self, count: int, block_ms: int, kinds: Sequence[JobKind] | None = None
    ) -> list[Entry]:
        """New entries, held from the moment they are delivered (see `_rerun_own`)."""
        async with self._deliveries:
            entries = await self.queue.read(list(kinds or self.kinds), self.id, count, block_ms)
            self._hold(entries)
        return entries

    def _hold(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            self._in_flight[entry.kind].add(entry.entry_id)

    def _release(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            self._in_flight[entry.kind].discard(entry.entry_id)

    def _unheld(self, entries: Sequence[Entry]) -> list[Entry]:
        return [e for e in entries if e.entry_id not in self._in_flight[e.kind]]

    async def _gather(
        self, entries: list[Entry], kinds: Sequence[JobKind] | None = None
    ) -> list[Entry]:
        """Jobs sent together reach the stream over a few milliseconds, and the blocked read
        wakes on the first: keep reading while more keep coming (up to gather_ms), so a
        burst shares one batch instead of one job going first alone."""
        deadline = time.monotonic() + self.gather_ms / 1000
        while entries and len(entries) < self.batch_size and time.monotonic() < deadline:
            more = await self._read(self.batch_size - len(entries), 10, kinds)
            if not more:
                break
            entries.extend(more)
        return entries

    async def _heartbeats(self) -> None:
        outage = Outage(log, "heartbeat")
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._beat()
                for kind, ids in list(self._in_flight.items()):
                    await self.queue.touch(kind, self.id, sorted(ids))
                outage.ok()
            except Exception as exc:
                outage.failed(exc, "heartbeat failed", level=logging.WARNING)

    async def _beat(self) -> None:
        info = {
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "kinds": ",".join(k.value for k in self.kinds),
            "models": ",".join(g.model_id for g in self.generators.values()),
            "at": f"{time.time():.0f}",
        }
        await self.queue.heartbeat(self.kinds, self.id, info, self.heartbeat_s)

    async def _wait_for_predecessor(self) -> None:
        """A worker started under the name of one that died (a stable ATELIER_WORKER_ID: a
        restarted pod) runs that one's pending jobs at once instead of after the visibility
        timeout, but only once the other is surely gone: its heartbeat record lapses within
        three beats of its death. A record that keeps being renewed is a live process
        using the same name, and sharing a name would run its jobs twice: stop."""
        ttl = await self.queue.worker_ttl_ms(self.id)
        if ttl <= 0:
            return
        log.info("worker %s: waiting %.1f s for the last one of this name", self.id, ttl / 1000)
        while ttl > 0:
            await asyncio.sleep(min(ttl / 1000 + 0.05, 0.25))
            left = await self.queue.worker_ttl_ms(self.id)
            if left > ttl:
                raise ConfigError(
                    f"Another worker is running as {self.id!r}. Give each worker a name of its "
                    "own (--worker-id or ATELIER_WORKER_ID), or leave it unset."
                )
            ttl = left

    async def _reclaims(self) -> None:
        """This worker's own lost deliveries (at start, after a loop error, and every
        interval), then other workers' jobs left longer than the visibility timeout."""
        interval = max(min(self.queue.visibility_timeout_s / 4, self.heartbeat_s, 30.0), 0.2)
        outage = Outage(log, "reclaim")
        while not self.stopping.is_set():
            self._lost.clear()
            try:
                await self._rerun_own()
                outage.ok()
            except Exception as exc:
                msg = "re-reading this worker's pending jobs failed"
                outage.failed(exc, msg, level=logging.WARNING)
            for kind in self.kinds:
                if self.stopping.is_set():
                    return
                try:
                    async with self._deliveries:
                        entries = self._unheld(
                            await self.queue.reclaim(kind, self.id, self.batch_size)
                        )
                        self._hold(entries)
                    if entries:
                        log.warning(
                            "reclaimed %d %s job(s) left by a dead worker", len(entries), kind.value
                        )
                        await self.process(entries)
                except Exception as exc:
                    outage.failed(exc, "reclaim failed", level=logging.WARNING)
            stop = asyncio.create_task(self.stopping.wait())
            lost = asyncio.create_task(self._lost.wait())
            await asyncio.wait({stop, lost}, timeout=interval, return_when="FIRST_COMPLETED")
            stop.cancel()
            lost.cancel()

    async def _rerun_own(self) -> None:
        """Entries pending for this consumer that no task of this process holds were lost
        on the way (a dropped connection, a predecessor's crash): run them now."""
        async with self._deliveries:
            entries = self._unheld(await self.queue.read_own(self.kinds, self.id))
            self._hold(entries)
        if not entries:
            return
        log.warning("running %d job(s) delivered to %s but never run", len(entries), self.id)
        try:
            for start in range(0, len(entries), self.batch_size):
                if self.stopping.is_set():
                    return
                await self.process(entries[start : start + self.batch_size])
        finally:
            self._release(entries)

    # Jobs ------------------------------------------------------------------------------
    async def process(self, entries: Sequence[Entry]) -> None:
        groups: dict[tuple[str, ...], list[Item]] = defaultdict(list)
        # In flight from now on: heartbeats keep these entries from being reclaimed while
        # they wait for the model as well as while they generate.
        self._hold(entries)
        try:
            admitted = []
            for item in await self._admit(entries):
                wrong = self._model_mismatch(item.job)
                if wrong:
                    await self._publish([item], [Output(error=wrong)], 0.0)
                else:
                    admitted.append(item)
            for item in await self._screen_prompts(admitted):
                groups[item.job.batch_key()].append(item)
            for items in groups.values():
                await self._run_batch(items)
        finally:
            self._release(entries)

    async def _admit(self, entries: Sequence[Entry]) -> list[Item]:
        """Parse entries and count their attempts (one round trip for all); bury poison and
        over-tried jobs."""
        parsed: list[tuple[Entry, Job]] = []
        for entry in entries:
            try:
                if entry.unreadable:  # not UTF-8: no job can be read from it
                    raise PoisonJob(entry.unreadable)
                job = load_job(entry.fields.get("job", ""))
                if job.kind is not entry.kind or job.kind not in self.generators:
                    raise PoisonJob(f"a {job.kind.value} job in the {entry.kind.value} stream")
            except PoisonJob as exc:
                log.error("dead-lettering malformed entry %s: %s", entry.entry_id, exc)
                await self.queue.bury(entry.kind, entry.entry_id, entry.fields, str(exc))
                continue
            parsed.append((entry, job))
        counts = await self.queue.start_attempts([job for _, job in parsed], self.id)
        items = []
        for (entry, job), attempts in zip(parsed, counts, strict=True):
            if attempts > self.max_attempts:
                await self._give_up(Item(entry, job, attempts - 1), "crashed its worker")
            else:
                items.append(Item(entry, job, attempts))
        return items

    async def _screen_prompts(self, items: list[Item]) -> list[Item]:
        """The moderation classifier on the prompts, before any generating: a flagged job
        ends here with the reason (never retried); the rest go on."""
        if self.classifier is None or not items:
            return items
        try:
            flags = await asyncio.to_thread(self.classifier, [i.job.prompt for i in items])
        except Exception:  # a broken classifier must not stop the service: say so loudly
            log.exception("the moderation classifier failed; prompts pass unchecked")
            return items
        passed = []
        for item, flag in zip(items, flags, strict=True):
            if flag is None:
                passed.append(item)
                continue
            refused = Output(error=refusal_text(flag), flag=flag, action="refused a prompt")
            await self._publish([item], [refused], 0.0)
        return passed

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
                with job_scope(item.job.id, kind=item.job.kind.value, worker=self.id):
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
        took = time.perf_counter() - started
        self.metrics.batch_generated(kind, len(jobs), took)
        return outputs, took

    async def _progress(
        self, jobs: list[Job], fraction: float, partials: Sequence[str] | None
    ) -> None:
        try:
            await self.queue.publish_progress(
                *(
                    Progress(
                        job_id=job.id,
                        fraction=fraction,
                        partial_text=(partials[i] if partials else "")[-1500:],
                        origin=job.origin,
                        command=job.command,
                        prompt=job.prompt,
                    )
                    for i, job in enumerate(jobs)
                )
            )
        except Exception:
            log.debug("progress publish failed", exc_info=True)

    async def _publish(self, items: list[Item], outputs: list[Output], took: float) -> None:
        batch_id = uuid.uuid4().hex[:12]
        gen = self.generators[items[0].job.kind]
        finishes = []
        servers: dict[tuple[str, str], ServerSettings | None] = {}  # read once per batch
        for item, out in zip(items, outputs, strict=True):
            with job_scope(item.job.id, kind=item.job.kind.value, worker=self.id):
                job = item.job
                out = await self._moderate(job, out, servers)
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
                    options=job.options,
                    created_at=job.created_at,
                    attempts=item.attempts,
                )
                finishes.append(Finish(job.kind, item.entry.entry_id, result))
        # One round trip for the batch. Shielded: a SIGTERM or cancel must not cut the
        # bookkeeping after a job in half.
        await asyncio.shield(self.queue.finish_many(finishes))
        await self._free_slots([item.job for item in items])  # one more for the batch
        for item, finish in zip(items, finishes, strict=True):
            job, result = item.job, finish.result
            with job_scope(job.id, kind=job.kind.value, worker=self.id):
                self.metrics.job_finished(job, result)
                state = "done" if result.ok else "failed"
                log.info("job %s %s (attempt %d)", job.id, state, item.attempts)

    async def _moderate(
        self, job: Job, out: Output, servers: dict[tuple[str, str], ServerSettings | None]
    ) -> Output:
        """A text piece is withheld when it matches the built-in list or its server's words,
        or the classifier flags it. Whatever moderation stopped or changed (here or in the
        generator: a flagged image) is noted for the server's moderators. `servers`: the
        settings read so far in this batch (each server's once)."""
        server = await self._server(job, servers)
        if out.text and not out.error:
            words = server.moderation_words if server is not None else ()
            flag = screen_result(out.text, words)
            if flag is None and self.classifier is not None and job.kind is JobKind.TEXT:
                try:
                    [flag] = await asyncio.to_thread(self.classifier, [out.text])
                except Exception:
                    log.exception("the moderation classifier failed; the piece passes unchecked")
            if flag is not None:
                log.info("withheld the result of %s: %s", job.id, flag.for_moderators())
                out = Output(
                    settings=out.settings,
                    error=withheld_text(flag),
                    flag=flag,
                    action="withheld a result",
                )
        if out.flag is not None and server is not None:
            try:
                await self.modlog.record(
                    job.origin,
                    server.moderation_log_channel,
                    job.command,
                    out.action or "stopped a piece",
                    out.flag,
                    job.prompt,
                )
            except Exception as exc:
                self.finishing.failed(
                    exc, f"could not note job {job.id} for the moderators", level=logging.WARNING
                )
        return out

    async def _server(
        self, job: Job, servers: dict[tuple[str, str], ServerSettings | None]
    ) -> ServerSettings | None:
        if not job.origin.guild_id:
            return None
        where = (job.origin.platform, job.origin.guild_id)
        if where in servers:
            return servers[where]
        try:
            servers[where] = await self.settings.get(*where)
        except Exception as exc:  # settings unreadable: the built-in list still applies
            self.finishing.failed(
                exc, f"could not read the settings of {job.origin.guild_id}", level=logging.WARNING
            )
            return None
        return servers[where]

    async def _give_up(self, item: Item, why: str) -> None:
        with job_scope(item.job.id, kind=item.job.kind.value, worker=self.id):
            await self._bury_job(item, why)

    async def _bury_job(self, item: Item, why: str) -> None:
        job = item.job
        log.error("dead-lettering job %s after %d attempt(s): %s", job.id, item.attempts, why)
        result = Result(
            job_id=job.id,
            ok=False,
            command=job.command,
            prompt=job.prompt,
            error=GAVE_UP.format(n=item.attempts),
            origin=job.origin,
            options=job.options,
            created_at=job.created_at,
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
        await self._free_slot(job)
        self.metrics.job_finished(job, result, dead=True)

    async def _free_slot(self, job: Job) -> None:
        await self._free_slots([job])

    async def _free_slots(self, jobs: Sequence[Job]) -> None:
        """Free the finished jobs' slots and admit their servers' next jobs in line. Should
        this fail (or the process die first), the fairness sweep does it within seconds."""
        try:
            await asyncio.shield(self.fairness.release_many(jobs))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            ids = ", ".join(job.id for job in jobs)
            self.finishing.failed(
                exc, f"could not release the slots of {ids}; the sweep will", level=logging.WARNING
            )
