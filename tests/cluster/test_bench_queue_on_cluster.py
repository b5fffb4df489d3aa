"""`atelier bench queue --cluster-url`: Atelier on a single Redis and on a real Redis
Cluster in one run, side by side with the ratio; arq on the single Redis only. Tiny job
counts; no timing is asserted (these machines are shared and noisy), only that every job
finished on both sides and that the ratios are the two sides' numbers divided."""

from __future__ import annotations

import redis

from bot.benchmarks import table
from tests.bot.cli.test_bench import run_bench
from tests.support.redis_cluster import RedisCluster
from worker.bench.queue import RATIO_FIELDS, queue_rows


def test_bench_queue_on_a_cluster_beside_a_single_redis(
    single_redis: str, redis_server: str
) -> None:
    report = run_bench(
        "queue",
        "--jobs", "40", "--rate", "400",
        "--redis-url", single_redis,
        "--cluster-url", redis_server,
    )  # fmt: skip
    assert report["atelier"]["redis"] == "single"
    assert report["cluster"]["redis"] == "cluster"
    assert report["cluster"]["masters"] == 3
    assert report["arq"]["redis"] == "single"
    for side in ("atelier", "cluster", "arq"):
        for phase in ("steady", "burst"):
            got = report[side][phase]
            assert got["jobs"] == 40
            assert got["jobs_per_s"] > 0 and 0 < got["p50_ms"] <= got["p99_ms"] <= got["max_ms"]
    for phase in ("steady", "burst"):
        single, cluster = report["atelier"][phase], report["cluster"][phase]
        for field in RATIO_FIELDS:
            assert report["cluster_ratio"][phase][field] == round(cluster[field] / single[field], 2)
    assert report["throughput_ratio"] > 0  # Atelier against arq, both on the single Redis

    rows = queue_rows(report)
    assert [(r["queue"], r["phase"]) for r in rows] == [
        ("atelier", "steady"),
        ("atelier", "burst"),
        ("arq (single only)", "steady"),
        ("arq (single only)", "burst"),
    ]
    assert rows[1]["ratio jobs/s"] == report["cluster_ratio"]["burst"]["jobs_per_s"]
    assert rows[3]["cluster jobs/s"] is None
    assert "cluster jobs/s" in table(rows, list(rows[0]))


def test_bench_queue_leaves_no_keys_on_either_side(
    single_redis: str, redis_cluster: RedisCluster
) -> None:
    """The cleanup finds the bench's keys on whichever master holds them (redis-py's cluster
    SCAN visits every master); every node is looked at here, replicas included."""
    run_bench(
        "queue", "--jobs", "5", "--no-arq",
        "--redis-url", single_redis, "--cluster-url", redis_cluster.url,
    )  # fmt: skip
    for port in redis_cluster.ports:
        assert list(redis_cluster.client(port).scan_iter(match="*atelier-bench-*")) == []
    assert list(redis.Redis.from_url(single_redis).scan_iter(match="*atelier-bench-*")) == []
