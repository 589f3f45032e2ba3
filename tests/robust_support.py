"""Helpers for the robustness tests: someone else's server, what it saw, and the processes simlib left behind.

Every server here is started by simlib's own ``start_server`` (loopback, free port, password) and stopped by PID.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from simlib.servers import Server, start_server

TEMP_PREFIX = "simlib-server-"


@contextlib.contextmanager
def other_server(role: str = "foreign", **extra: str):
    """A server that is not simlib's to manage: the tests play its owner."""
    server = start_server(role, extra={k.replace("_", "-"): v for k, v in extra.items()})
    try:
        yield server
    finally:
        server.stop()


def client_of(server: Server) -> redis.Redis:
    """One persistent connection, so asking for statistics does not itself count as a new connection."""
    return redis.Redis(host="127.0.0.1", port=server.port, password=server.password, single_connection_client=True)


def connections_received(client: redis.Redis) -> int:
    return int(client.info("stats")["total_connections_received"])


def seed_foreign_keys(client: redis.Redis, count: int = 1000) -> None:
    """``count`` unrelated keys of every type, a few of them with a TTL far in the future."""
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        kind = i % 5
        key = f"shop:{kind}:{i}"
        if kind == 0:
            pipe.set(key, f"value-{i}")
        elif kind == 1:
            pipe.hset(key, mapping={"name": f"fan {i}", "seat": i})
        elif kind == 2:
            pipe.rpush(key, *range(i % 7 + 1))
        elif kind == 3:
            pipe.sadd(key, *(f"m{j}" for j in range(i % 5 + 1)))
        else:
            pipe.zadd(key, {f"z{j}": j for j in range(i % 4 + 1)})
        if i % 100 == 0:
            pipe.expire(key, 86_400)
    pipe.execute()


def digest(client: redis.Redis) -> dict[bytes, str]:
    """Key -> SHA-256 of its DUMP (type, value and encoding, byte for byte)."""
    return {key: hashlib.sha256(client.dump(key)).hexdigest() for key in client.scan_iter(count=1000)}


def simlib_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="simlib:*", count=1000))


def forbidden_commands_run(client: redis.Redis) -> dict[str, int]:
    """Calls of FLUSHDB, FLUSHALL or KEYS the server has counted since it started (INFO commandstats)."""
    stats = client.info("commandstats")
    return {name: stats[name]["calls"] for name in ("cmdstat_flushdb", "cmdstat_flushall", "cmdstat_keys") if name in stats}


def simlib_cli(*args: str, env: dict | None = None, timeout: float = 60, **popen) -> subprocess.CompletedProcess:
    """``python -m simlib ARGS`` as a user would run it; text output captured."""
    return subprocess.run([sys.executable, "-m", "simlib", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, **popen)


def start_simlib(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simlib", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def env_with_tmpdir(tmpdir: Path) -> dict:
    """The environment for a simlib subprocess whose temp dirs land in ``tmpdir`` (so the test can count them)."""
    return {**os.environ, "TMPDIR": str(tmpdir)}


def children_of(pid: int) -> list[int]:
    """PIDs of the live (non-zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        status = _status(int(entry.name))
        if status.get("PPid") == str(pid) and not status.get("State", "").startswith("Z"):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    status = _status(pid)
    return bool(status) and not status.get("State", "").startswith("Z")


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def temp_dirs(tmpdir: Path) -> list[Path]:
    return sorted(tmpdir.glob(TEMP_PREFIX + "*"))


def wait_for(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_quietly(process: subprocess.Popen, pids: list[int]) -> None:
    """Test clean-up: whatever a failed test left running is stopped, by PID only."""
    for pid in [process.pid, *pids]:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp and tcp6) of every socket LISTENing on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].rsplit(":", 1)
                if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                    found.add(address)
    return found


LOOPBACK_V4_HEX = "0100007F"  # 127.0.0.1 in /proc/net/tcp's little-endian hex
