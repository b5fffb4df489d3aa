"""`atelier bench queue`: what the queue itself costs, against arq on the same Redis.

Both sides run the same no-op job through a real Redis, client and worker in this process
(one event loop, so neither side gets a core of its own):
- Atelier: `Fairness.admit_stored` (the adapters' admission script) -> `Worker` (XREADGROUP, attempt
  count, a generator that returns at once, the atomic finish script) -> the result stream;
- arq: `enqueue_job` -> arq's worker (polling its queue every `arq_poll_ms`) -> its result key.

Two phases per side: a steady phase at `rate` jobs/s (jobs sent on a fixed schedule, whatever
the answers do) gives the overhead of each job, from the moment it was sent to the moment the
worker recorded it finished (arq's `finish_time`, Atelier's `Result.finished_at`: the same
clock, the same point); a burst phase sends `jobs` at once and gives jobs/s.

With `cluster_url`, Atelier runs on a Redis Cluster too, connected and prefixed as production
connects (`bot.connections`: the prefix hash-tagged, transactions and scripts on the slot's
master), the two taking turns phase by phase; the report adds the cluster's side and the
ratio cluster / single. arq talks to a single Redis only, so it runs on `redis_url` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from bot.benchmarks import latency_ms
from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.config import load_settings
from bot.connections import connect, key_prefix
from bot.jobs import Job, JobKind, Origin, load_result
from bot.keys import Keys
from bot.queue.fairness import Fairness
from bot.queue.streams import JobQueue
from worker.generators.base import Output, ProgressFn
from worker.loop import Worker


class NoopGenerator:
    """Answers every job at once with an empty text: only the queue is left to measure."""

    kind = JobKind.TEXT
    name = "noop"
    model_id = "noop"
    device = "cpu"

    def load(self) -> None:
        pass

    def warmup(self) -> None:
        pass

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        return [Output(text="") for _ in jobs]


async def arq_noop(ctx: dict[str, Any], n: int) -> int:
    return n


def _jobs(count: int, run: str) -> list[Job]:
    inv = parse("/poem noop")
    route = f"bench:{run}"
    return [
        build_job(inv, Origin(platform="bench", route=route, delivery_id=f"{run}-{i}"), seed=i)
        for i in range(count)
    ]


async def _send(count: int, rate: float, send: Any) -> list[float]:
    """Call `send(i)` for each job on a fixed schedule (rate 0: all at once); returns the
    wall-clock time each send started."""
    sent = [0.0] * count
    started = time.perf_counter()

    async def one(i: int) -> None:
        sent[i] = time.time()
        await send(i)

    if rate <= 0:  # a burst: as fast as 64 sends in flight allow (64 client connections)
        gate = asyncio.Semaphore(64)

        async def gated(i: int) -> None:
            async with gate:
                await one(i)

        await asyncio.gather(*(gated(i) for i in range(count)))
        return sent
    tasks = []
    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return sent


async def _phase(sent_at: list[float], finished_at: list[float]) -> dict[str, float]:
    overheads = [f - s for s, f in zip(sent_at, finished_at, strict=True)]
    span = max(finished_at) - min(sent_at)
    return {"jobs": len(sent_at), "jobs_per_s": round(len(sent_at) / span, 1)} | latency_ms(
        overheads
    )


@dataclass
class _Side:
    """One Redis for the Atelier side, connected and prefixed as production connects
    (`bot.connections`): a single server, or a cluster whose keys carry the prefix's hash tag."""

    redis: Redis
    queue: JobQueue
    fairness: Fairness

    async def phase(
        self, *, jobs: int, rate: float, batch_size: int, concurrency: int
    ) -> dict[str, float]:
        """One phase with a worker of its own, started before it and stopped after, so the
        side waiting its turn runs nothing."""
        worker = Worker(
            self.queue,
            [NoopGenerator()],
            batch_size=batch_size,
            concurrency=concurrency,
            block_ms=200,
        )
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.ready.wait(), timeout=30)
            run = uuid.uuid4().hex[:8]
            batch = _jobs(jobs, run)
            stream = self.queue.keys.results(f"bench:{run}")
            reader = asyncio.create_task(_read_results(self.redis, stream, jobs))
            admit = self.fairness.admit_stored
            sent = await _send(jobs, rate, lambda i: admit(batch[i]))
            finished = await reader
        finally:
            worker.stop()
            await asyncio.wait_for(task, timeout=30)
        index = {job.id: i for i, job in enumerate(batch)}
        done = [0.0] * jobs
        for job_id, at in finished.items():
            done[index[job_id]] = at
        return await _phase(sent, done)


@contextlib.asynccontextmanager
async def _side(redis_url: str) -> AsyncIterator[_Side]:
    settings = load_settings(
        redis_url=SecretStr(redis_url), redis_prefix=f"atelier-bench-{uuid.uuid4().hex[:8]}:"
    )
    redis = connect(settings, embedded_ok=False, what="atelier bench queue")
    queue = JobQueue(redis, keys=Keys(key_prefix(settings)), max_queue_length=0)
    try:
        # The adapters' path: the admission script that checks caps and limits.
        yield _Side(redis, queue, Fairness(queue))
    finally:
        for pattern in queue.keys.scan_patterns():  # a cluster spells the prefix three ways
            await _forget(redis, pattern)
        await redis.aclose()


async def bench_atelier(
    redis_urls: dict[str, str], *, jobs: int, rate: float, batch_size: int, concurrency: int
) -> dict[str, dict[str, Any]]:
    """Atelier on each named Redis, the sides taking turns phase by phase (steady on each,
    then a burst on each), so a load that drifts during the run falls on all of them."""
    out: dict[str, dict[str, Any]] = {}
    async with contextlib.AsyncExitStack() as stack:
        sides = {
            name: await stack.enter_async_context(_side(url)) for name, url in redis_urls.items()
        }
        for name in sides:
            out[name] = {"batch_size": batch_size, "concurrency": concurrency}
        for phase, phase_rate in (("steady", rate), ("burst", 0.0)):
            for name, side in sides.items():
                out[name][phase] = await side.phase(
                    jobs=jobs, rate=phase_rate, batch_size=batch_size, concurrency=concurrency
                )
        for name, side in sides.items():
            out[name] |= _shape(side.redis)  # a cluster client knows its nodes once used
    return out


def _shape(redis: Any) -> dict[str, Any]:
    """What the side ran on: a single server, or a cluster and its masters."""
    if isinstance(redis, RedisCluster):
        return {"redis": "cluster", "masters": len(redis.get_primaries())}
    return {"redis": "single"}


async def _read_results(redis: Redis, stream: str, count: int) -> dict[str, float]:
    """Job id -> the worker's finish time, for `count` results read off the stream."""
    finished: dict[str, float] = {}
    last = "0"
    while len(finished) < count:
        reply = await redis.xread({stream: last}, count=1000, block=5000)
        if not reply:
            raise TimeoutError(f"only {len(finished)} of {count} results after 5 s of silence")
        for _, entries in reply:
            for entry_id, fields in entries:
                last = entry_id
                if fields.get("type") == "result":
                    result = load_result(fields["data"])
                    finished[result.job_id] = result.finished_at
    return finished


async def bench_arq(
    redis_url: str, *, jobs: int, rate: float, max_jobs: int, poll_ms: float
) -> dict[str, Any]:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.jobs import Job as ArqJob
    from arq.worker import Worker as ArqWorker

    settings = RedisSettings.from_dsn(redis_url)
    queue_name = f"atelier-bench-arq-{uuid.uuid4().hex[:8]}"
    pool = await create_pool(settings, default_queue_name=queue_name)
    worker = ArqWorker(
        functions=[arq_noop],
        redis_pool=pool,
        queue_name=queue_name,
        max_jobs=max_jobs,
        poll_delay=poll_ms / 1000,
        keep_result=3600,
        handle_signals=False,
    )
    task = asyncio.create_task(worker.main())
    out: dict[str, Any] = {"max_jobs": max_jobs, "poll_ms": poll_ms}
    try:
        for name, phase_rate in (("steady", rate), ("burst", 0.0)):
            run = uuid.uuid4().hex[:8]
            ids = [f"{queue_name}-{run}-{i}" for i in range(jobs)]

            async def send(i: int, ids: list[str] = ids) -> None:
                await pool.enqueue_job("arq_noop", i, _job_id=ids[i])

            sent = await _send(jobs, phase_rate, send)
            await _wait_arq(pool, [f"arq:result:{job_id}" for job_id in ids])
            done = []
            for job_id in ids:
                info = await ArqJob(job_id, pool, _queue_name=queue_name).result_info()
                assert info is not None
                done.append(info.finish_time.timestamp())
            out[name] = await _phase(sent, done)
    finally:
        # Not worker.close(): it closes the shared pool with a call redis-py deprecates.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        await _forget(pool, f"arq:*{queue_name}*")
        await _forget(pool, f"{queue_name}*")  # its queue and its health-check key
        await pool.aclose()
    return out


async def _wait_arq(pool: Any, keys: list[str], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while int(await pool.exists(*keys)) < len(keys):
        if time.monotonic() > deadline:
            raise TimeoutError("arq did not finish the jobs in time")
        await asyncio.sleep(0.005)


async def _forget(redis: Any, pattern: str) -> None:
    keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
    for start in range(0, len(keys), 500):
        await redis.delete(*keys[start : start + 500])


async def bench_queue(
    *,
    redis_url: str,
    cluster_url: str | None = None,
    jobs: int = 2000,
    rate: float = 500.0,
    batch_size: int = 32,
    concurrency: int = 2,
    arq: bool = True,
    arq_max_jobs: int = 64,
    arq_poll_ms: float = 5.0,
) -> dict[str, Any]:
    """Atelier on `redis_url` (and on `cluster_url`, taking turns), then arq on `redis_url`
    (arq speaks to a single Redis only)."""
    urls = {"atelier": redis_url} | ({"cluster": cluster_url} if cluster_url else {})
    sides = await bench_atelier(
        urls, jobs=jobs, rate=rate, batch_size=batch_size, concurrency=concurrency
    )
    report: dict[str, Any] = {"jobs": jobs, "rate": rate} | sides
    if cluster_url:
        report["cluster_ratio"] = cluster_ratio(sides["atelier"], sides["cluster"])
    if arq:
        report["arq"] = await bench_arq(
            redis_url, jobs=jobs, rate=rate, max_jobs=arq_max_jobs, poll_ms=arq_poll_ms
        ) | {"redis": "single"}
        a, b = sides["atelier"]["burst"]["jobs_per_s"], report["arq"]["burst"]["jobs_per_s"]
        report["throughput_ratio"] = round(a / b, 2) if b else None
    return report


RATIO_FIELDS = ("jobs_per_s", "p50_ms", "p99_ms", "max_ms")


def cluster_ratio(single: dict[str, Any], cluster: dict[str, Any]) -> dict[str, Any]:
    """Cluster over single, per phase and field: jobs/s under 1 and latencies over 1 are
    what the cluster costs."""
    return {
        phase: {f: _ratio(cluster[phase][f], single[phase][f]) for f in RATIO_FIELDS}
        for phase in ("steady", "burst")
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def queue_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per queue and phase; with a cluster, its columns beside the single Redis's and
    the ratio (cluster / single). arq runs on the single Redis only."""
    if "cluster" in report:
        return _side_by_side(report)
    rows = []
    for side in ("atelier", "arq"):
        if side not in report:
            continue
        for phase in ("steady", "burst"):
            r = report[side][phase]
            rows.append(
                {
                    "queue": side,
                    "phase": phase,
                    "jobs": r["jobs"],
                    "jobs/s": r["jobs_per_s"],
                    "p50 ms": r["p50_ms"],
                    "p99 ms": r["p99_ms"],
                    "max ms": r["max_ms"],
                }
            )
    return rows


def _side_by_side(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for side, label in (("atelier", "atelier"), ("arq", "arq (single only)")):
        if side not in report:
            continue
        for phase in ("steady", "burst"):
            r = report[side][phase]
            row: dict[str, Any] = {
                "queue": label,
                "phase": phase,
                "jobs": r["jobs"],
                "single jobs/s": r["jobs_per_s"],
                "p50 ms": r["p50_ms"],
                "p99 ms": r["p99_ms"],
                "cluster jobs/s": None,
                "cluster p50": None,
                "cluster p99": None,
                "ratio jobs/s": None,
                "ratio p50": None,
                "ratio p99": None,
            }
            if side == "atelier":
                c, x = report["cluster"][phase], report["cluster_ratio"][phase]
                row |= {
                    "cluster jobs/s": c["jobs_per_s"],
                    "cluster p50": c["p50_ms"],
                    "cluster p99": c["p99_ms"],
                    "ratio jobs/s": x["jobs_per_s"],
                    "ratio p50": x["p50_ms"],
                    "ratio p99": x["p99_ms"],
                }
            rows.append(row)
    return rows
