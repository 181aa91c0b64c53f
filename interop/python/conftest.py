"""Fixtures for the nats-py interop suite.

Every test gets its own server process, started from the binary named by the environment
variable NATTER_SERVER_BIN on a free loopback port. The command line uses nats-server's own
flags, so NATTER_SERVER_BIN=/usr/sbin/nats-server runs the suite against the reference server.
"""

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

BIN_ENV = "NATTER_SERVER_BIN"


def pytest_configure(config):
    # A missing server must fail the run, never skip it: CI would otherwise pass on nothing.
    binary = os.environ.get(BIN_ENV)
    if not binary:
        raise pytest.UsageError(
            f"{BIN_ENV} is not set: point it at the natter-server binary "
            "(`cargo xtask interop` does this), e.g. "
            f"{BIN_ENV}=target/debug/natter-server python -m pytest interop/python"
        )
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise pytest.UsageError(f"{BIN_ENV}={binary!r} is not an executable file")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One server process on a fixed loopback port, restartable on that same port."""

    def __init__(self, workdir: Path, max_payload=None):
        self.binary = os.environ[BIN_ENV]
        self.workdir = workdir
        self.port = free_port()
        self.max_payload = max_payload
        self.proc = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server-{self.starts}.log"

    def start(self):
        assert self.proc is None, "server already running"
        self.starts += 1
        args = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-l", str(self.log_path)]
        if self.max_payload is not None:
            conf = self.workdir / "limits.conf"
            conf.write_text(f"max_payload: {self.max_payload}\n")
            args += ["-c", str(conf)]
        # A file, not a pipe: nobody reads a pipe while the test runs, and a full one blocks.
        with open(self.workdir / f"stdout-{self.starts}.txt", "wb") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        self._wait_until_accepting()

    def _wait_until_accepting(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = (self.workdir / f"stdout-{self.starts}.txt").read_text(errors="replace")
                raise RuntimeError(
                    f"server exited with {self.proc.returncode} before accepting on "
                    f"{self.port}:\n{out}\n{self._log_text()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"server did not accept on port {self.port} within {timeout}s")

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log file)"

    def stop(self):
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    def restart(self):
        self.stop()
        self.start()


@pytest.fixture
def make_server(tmp_path):
    """Factory: make_server(max_payload=None) -> a started ServerProcess, stopped at teardown."""
    servers = []

    def make(max_payload=None):
        srv = ServerProcess(tmp_path / f"srv{len(servers)}", max_payload=max_payload)
        srv.workdir.mkdir()
        servers.append(srv)
        srv.start()
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
async def connect():
    """Factory for nats-py clients; every client is closed at teardown."""
    import nats

    clients = []

    async def make(url, **kwargs):
        kwargs.setdefault("allow_reconnect", False)
        kwargs.setdefault("connect_timeout", 5)
        nc = await nats.connect(servers=[url], **kwargs)
        clients.append(nc)
        return nc

    yield make
    for nc in clients:
        if not nc.is_closed:
            try:
                await asyncio.wait_for(nc.close(), 5)
            except Exception:
                pass
