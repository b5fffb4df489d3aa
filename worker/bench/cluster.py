"""A Redis Cluster on loopback: 3 masters and 3 replicas (`redis-server --cluster-enabled yes`,
joined with `redis-cli --cluster create`), in a directory of its own, stopped by PID. The
tests start one per session (tests/support/redis_cluster.py); `atelier bench queue
--cluster-url` runs on one started by hand:

    python -m worker.bench.cluster            # prints redis+cluster://127.0.0.1:PORT/0
    python -m worker.bench.cluster --port 7000 --dir /tmp/atelier-cluster

It runs until Ctrl-C (or SIGTERM), then stops its nodes and deletes its directory (unless
`--dir` named one). A node timeout of 2 s makes a replica take over a killed master within
a few seconds."""

from __future__ import annotations

import argparse
import functools
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

NODES = 6
NODE_TIMEOUT_MS = 2000


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(n: int) -> list[int]:
    """Ports whose cluster bus port (+10000) is free too."""
    found: list[int] = []
    while len(found) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 55000 and port not in found and _free(port + 10000):
            found.append(port)
    return found


def cluster_support() -> str:
    """Why no cluster can start here, or '' when one can."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    out = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout
    if " v=" in out and int(out.split(" v=")[1].split(".")[0]) < 5:
        return f"redis-server is older than 5 and has no `--cluster create`: {out.strip()}"
    return ""


class LoopbackCluster:
    """Six nodes on 127.0.0.1: `ports` when given (each port + 10000 is its bus port), else
    free ones."""

    def __init__(self, workdir: Path, ports: list[int] | None = None) -> None:
        self.workdir = workdir
        self.ports = ports or _free_ports(NODES)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        alive = [p for p in self.ports if self.procs[p].poll() is None]
        return f"redis+cluster://127.0.0.1:{alive[0]}/0"

    def start(self) -> None:
        for port in self.ports:
            node_dir = self.workdir / str(port)
            node_dir.mkdir(parents=True, exist_ok=True)
            self.procs[port] = subprocess.Popen(
                [
                    "redis-server",
                    "--port", str(port), "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(node_dir / "nodes.conf"),
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--save", "", "--appendonly", "no", "--dir", str(node_dir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for port in self.ports:
            self._wait(functools.partial(self.answers, port), f"node {port} to start")
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        self._wait(self.healthy, "the cluster to be ok")

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_connect_timeout=1, decode_responses=True)

    def answers(self, port: int) -> bool:
        return bool(self.client(port).ping())

    def healthy(self) -> bool:
        for port, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            info = self.client(port).execute_command("CLUSTER", "INFO")
            if "cluster_state:ok" not in str(info):
                return False
        return True

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the nodes as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.bench.cluster",
        description="Run a 3-master, 3-replica Redis Cluster on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, help="the first node's port (the six: PORT..PORT+5)")
    parser.add_argument("--dir", type=Path, help="where the nodes keep their files")
    args = parser.parse_args(argv)
    missing = cluster_support()
    if missing:
        print(f"error: no Redis Cluster can start here: {missing}", file=sys.stderr)
        return 2
    ports = [args.port + i for i in range(NODES)] if args.port else None
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="atelier-cluster-"))
    cluster = LoopbackCluster(workdir, ports)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cluster.start()
        print(cluster.url, flush=True)
        print(f"atelier bench queue --cluster-url {cluster.url}", file=sys.stderr, flush=True)
        while all(proc.poll() is None for proc in cluster.procs.values()):
            time.sleep(0.5)
        print("error: a node exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
