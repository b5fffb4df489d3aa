"""A real Redis Cluster on loopback: 3 masters and 3 replicas (`redis-server
--cluster-enabled yes`, joined with `redis-cli --cluster create`), in a temp dir, stopped by
PID. A node timeout of 2 s makes a replica take over a killed master within a few seconds."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
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


class RedisCluster:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = _free_ports(NODES)
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
            self._wait(lambda p=port: bool(self.client(p).ping()), f"node {port} to start")
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

    def healthy(self) -> bool:
        for port, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            info = self.client(port).execute_command("CLUSTER", "INFO")
            if "cluster_state:ok" not in str(info):
                return False
        return True

    def master_of(self, key: str) -> int:
        seed = next(p for p in self.ports if self.procs[p].poll() is None)
        slot = int(self.client(seed).execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in self.client(seed).execute_command("CLUSTER", "SLOTS"):
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

    def _wait(self, ready: object, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.1)
