"""A private `redis-server` for tests that stop, restart or reconfigure their server (TLS, a
password), on a port of 6441-6449, stopped by PID; and a self-signed CA for TLS."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

PORTS = range(6441, 6450)


def free_private_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("ports 6441-6449 are all taken")


class PrivateRedis:
    def __init__(self, workdir: Path, *, password: str = "", tls: TlsFiles | None = None) -> None:
        self.workdir = workdir
        self.password = password
        self.tls = tls
        self.port = free_private_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls is None:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls.ca}"

    def start(self) -> PrivateRedis:
        args = [str(shutil.which("redis-server")), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        if self.tls is None:
            args += ["--port", str(self.port)]
        else:
            args += ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            args += ["--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=1).ping():
                    return self
            except redis.RedisError:
                pass
            assert self.proc.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class TlsFiles:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI, EC keys)."""

    def __init__(self, where: Path) -> None:
        self.ca, self.ca_key = where / "ca.crt", where / "ca.key"
        self.cert, self.key = where / "redis.crt", where / "redis.key"
        csr, ext = where / "redis.csr", where / "san.ext"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl("req", "-x509", *ec, "-keyout", self.ca_key, "-out", self.ca, "-days", "1",
                 "-subj", "/CN=Atelier test CA")  # fmt: skip
        _openssl("req", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1")
        ext.write_text("subjectAltName=IP:127.0.0.1\n")
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                 "-CAcreateserial", "-out", self.cert, "-days", "1", "-extfile", ext)  # fmt: skip


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)
