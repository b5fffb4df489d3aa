"""The tests' Redis Cluster: `worker.bench.cluster.LoopbackCluster` (3 masters and 3
replicas on loopback, the same one `atelier bench queue --cluster-url` runs on by hand), plus
what the failover tests need: which master serves a key, killing a node, waiting for its
replica to take over."""

from __future__ import annotations

import signal

import redis

from worker.bench.cluster import LoopbackCluster, cluster_support

__all__ = ["RedisCluster", "cluster_support"]


class RedisCluster(LoopbackCluster):
    def master_of(self, key: str) -> int:
        seed = next(p for p in self.ports if self.procs[p].poll() is None)
        seed_client = self.client(seed)
        slot = int(seed_client.execute_command("CLUSTER", "KEYSLOT", key))  # type: ignore[no-untyped-call]
        slots = seed_client.execute_command("CLUSTER", "SLOTS")  # type: ignore[no-untyped-call]
        for start, end, master, *_ in slots:
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"no master serves slot {slot}")

    def kill(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait(timeout=10)

    def wait_promoted(self, key: str, dead: int, timeout: float = 30) -> int:
        def moved() -> bool:
            try:
                return self.master_of(key) != dead and self.healthy()
            except redis.RedisError:
                return False

        self._wait(moved, "a replica to take over", timeout)
        return self.master_of(key)
