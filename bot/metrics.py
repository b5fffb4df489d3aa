# ruff: noqa: E501  (the metric table below is wider than code lines)
"""Prometheus metrics of one process, in a registry of its own.

Two sorts: counters and histograms this process updates as it works (a worker's jobs, an
adapter's posts), and gauges read from Redis at scrape time (queue depth, pending entries,
workers alive). The Redis gauges describe the shared queue, so every process reports the
same values: aggregate them with `max by (kind)`, not `sum`.

| metric | type | labels | meaning |
| --- | --- | --- | --- |
| `atelier_queue_depth` | gauge | kind | jobs waiting for a worker (not yet read) |
| `atelier_queue_pending` | gauge | kind | jobs read by a worker and not yet acked (in progress) |
| `atelier_queue_in_lines` | gauge | kind | jobs waiting in servers' own lines (fair scheduling), not yet in the stream |
| `atelier_workers_alive` | gauge | kind | workers whose heartbeat is current |
| `atelier_dead_letters` | gauge | | entries in the dead-letter stream |
| `atelier_redis_up` | gauge | | 1 if Redis answered the last scrape |
| `atelier_jobs_finished_total` | counter | kind, status | results published (`ok`, `error`, `dead`) |
| `atelier_job_latency_seconds` | histogram | kind | from enqueue to result published |
| `atelier_generate_seconds` | histogram | kind | one generate call (a batch) |
| `atelier_generated_items_total` | counter | kind | pieces generated (rate = items/s) |
| `atelier_generation_items_per_second` | gauge | kind | throughput of the last batch |
| `atelier_posts_total` | counter | platform, status | results posted (`ok`, `retry`, `failed`) |
| `atelier_platform_rate_limited_total` | counter | platform | 429 answers from Discord or Slack |
| `atelier_web_requests_total` | counter | status | web gallery requests by HTTP status (`atelier web`, `atelier up`; `bot.web.server`) |
| `atelier_web_request_seconds` | histogram | | one web gallery request, from routing to the rendered page |
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.jobs import Job, JobKind, Result
from bot.keys import WORKER_GROUP

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from enqueue to result: a text job on a busy GPU takes seconds, an image tens.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
GENERATE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge(
            "atelier_queue_depth", "Jobs waiting for a worker", ["kind"], registry=r
        )
        self.queue_pending = Gauge(
            "atelier_queue_pending", "Jobs read by a worker, not yet acked", ["kind"], registry=r
        )
        self.in_lines = Gauge(
            "atelier_queue_in_lines", "Jobs waiting in servers' lines", ["kind"], registry=r
        )
        self.workers_alive = Gauge(
            "atelier_workers_alive", "Workers with a current heartbeat", ["kind"], registry=r
        )
        self.dead_letters = Gauge("atelier_dead_letters", "Dead-letter entries", registry=r)
        self.redis_up = Gauge("atelier_redis_up", "1 if Redis answered the scrape", registry=r)
        self.jobs_finished = Counter(
            "atelier_jobs_finished", "Results published", ["kind", "status"], registry=r
        )
        self.job_latency = Histogram(
            "atelier_job_latency_seconds",
            "Enqueue to result published",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.generate_seconds = Histogram(
            "atelier_generate_seconds",
            "Seconds per generate call (one batch)",
            ["kind"],
            buckets=GENERATE_BUCKETS,
            registry=r,
        )
        self.generated_items = Counter(
            "atelier_generated_items", "Pieces generated", ["kind"], registry=r
        )
        self.items_per_second = Gauge(
            "atelier_generation_items_per_second",
            "Throughput of the last batch",
            ["kind"],
            registry=r,
        )
        self.posts = Counter(
            "atelier_posts", "Results posted to a platform", ["platform", "status"], registry=r
        )
        self.rate_limited = Counter(
            "atelier_platform_rate_limited",
            "429 answers from a platform",
            ["platform"],
            registry=r,
        )

    # Updates from the worker and the adapters -------------------------------------------
    def batch_generated(
        self, kind: JobKind, items: int, seconds: float, *, rate: float | None = None
    ) -> None:
        """`rate`: items per second where batches overlap (continuous batching measures it
        over a window); otherwise the batch's own items over its seconds."""
        self.generate_seconds.labels(kind.value).observe(seconds)
        self.generated_items.labels(kind.value).inc(items)
        if rate is None and seconds > 0:
            rate = items / seconds
        if rate is not None:
            self.items_per_second.labels(kind.value).set(rate)

    def job_finished(self, job: Job, result: Result, *, dead: bool = False) -> None:
        status = "dead" if dead else ("ok" if result.ok else "error")
        self.jobs_finished.labels(job.kind.value, status).inc()
        self.job_latency.labels(job.kind.value).observe(
            max(result.finished_at - job.created_at, 0.0)
        )

    def posted(self, platform: str, status: str) -> None:
        self.posts.labels(platform, status).inc()

    def platform_rate_limited(self, platform: str) -> None:
        self.rate_limited.labels(platform).inc()

    # Scrape ----------------------------------------------------------------------------
    async def refresh(self, queue: Any) -> None:
        """Read the shared queue's gauges from Redis (a few cheap commands per kind)."""
        try:
            for kind in JobKind:
                stream = queue.keys.jobs(kind)
                self.queue_depth.labels(kind.value).set(await queue.depth(kind))
                self.queue_pending.labels(kind.value).set(await _pending(queue.redis, stream))
                self.in_lines.labels(kind.value).set(
                    await queue.redis.zcard(queue.keys.lines(kind))
                )
                self.workers_alive.labels(kind.value).set(await queue.workers_alive(kind))
            self.dead_letters.set(await queue.redis.xlen(queue.keys.dead))
        except Exception as exc:  # the scrape still answers, with Redis marked down
            log.warning("metrics: Redis did not answer: %s", type(exc).__name__)
            self.redis_up.set(0)
            return
        self.redis_up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def _pending(redis: Any, stream: str) -> int:
    try:
        summary = await redis.xpending(stream, WORKER_GROUP)
    except Exception as exc:  # no stream or group yet: nothing pending
        if "NOGROUP" in str(exc) or "no such key" in str(exc):
            return 0
        raise
    return int(summary.get("pending", 0) if isinstance(summary, dict) else 0)
