"""Servers simlib starts: loopback only, secrets kept, and gone after any ending: normal exit, Ctrl-C, SIGTERM, a crash
and SIGKILL of simlib itself. A run's keys on the user's store are removed on every ending simlib survives.

Each test starts ``python -m simlib burst`` as a user would, waits until its child servers are up and the run is
writing, ends it, and then looks in /proc: no child left, no ``simlib-server-*`` temp dir, no ``simlib:`` key.
Processes are signalled by PID only.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simlib.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK

from robust_support import (LOOPBACK_V4_HEX, alive, children_of, client_of, env_with_tmpdir, listening_addresses,
                            other_server, simlib_cli, simlib_keys, start_simlib, stop_quietly, temp_dirs, wait_for)

pytestmark = pytest.mark.integration

LOCK_SERVERS = 5
LONG_RUN = ["--users", "200000", "--arrival", "uniform", "--window-s", "60", "--quiet"]
SHORT_RUN = ["--users", "3000", "--arrival", "uniform", "--window-s", "2", "--quiet"]
STARTUP_S = 30
GONE_S = 5
# a crash in the middle of the run: the snapshot read fails after every fan has booked
CRASHING = ("import sys, simlib.runner as r\n"
            "async def boom(*a, **k): raise RuntimeError('injected crash')\n"
            "r.read_snapshot = boom\n"
            "from simlib.cli import run\nsys.argv[0] = 'simlib'\nrun()\n")


@pytest.fixture
def store():
    """The user's store, given by URL; the lock servers are simlib's own children."""
    with other_server("store") as server:
        client = client_of(server)
        yield server, client
        client.close()


def redlock_args(store_url: str, workload: list[str]) -> list[str]:
    return ["burst", "--strategy", "redlock", "--nodes", str(LOCK_SERVERS), "--redis-url", store_url, *workload]


def all_lock_servers(process) -> list[int] | None:
    children = children_of(process.pid)
    return children if len(children) == LOCK_SERVERS else None


def running_with_servers(process, tmp_path: Path, client) -> list[int]:
    """Wait until simlib's lock servers are all up (their temp dirs already removed) and the run has written a key."""

    def ready():
        children = all_lock_servers(process)
        return children if children and not temp_dirs(tmp_path) and simlib_keys(client) else None

    return wait_for(ready, timeout=STARTUP_S, what="simlib's servers and the first booking")


def assert_nothing_left(children: list[int], tmp_path: Path) -> None:
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=GONE_S, what="the child servers to go")
    assert temp_dirs(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_servers_and_removes_the_run_keys(signum, store, tmp_path):
    server, client = store
    process = start_simlib(*redlock_args(server.url, LONG_RUN), env=env_with_tmpdir(tmp_path))
    children: list[int] = []
    try:
        children = running_with_servers(process, tmp_path, client)
        os.kill(process.pid, signum)
        out, err = process.communicate(timeout=40)
    finally:
        stop_quietly(process, children)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "interrupted; servers stopped, run keys removed" in err and server.password not in out + err
    assert_nothing_left(children, tmp_path)
    assert simlib_keys(client) == []


def test_sigkill_of_simlib_takes_its_servers_along_and_clean_removes_the_keys(store, tmp_path):
    server, client = store
    process = start_simlib(*redlock_args(server.url, LONG_RUN), env=env_with_tmpdir(tmp_path))
    children: list[int] = []
    try:
        children = running_with_servers(process, tmp_path, client)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=40)
    finally:
        stop_quietly(process, children)
    assert process.returncode == -signal.SIGKILL
    assert_nothing_left(children, tmp_path)  # the parent-death signal did it
    assert simlib_keys(client), "a killed run cannot clean up: that is what simlib clean is for"
    done = simlib_cli("clean", "--redis-url", server.url, "--all-runs")
    assert done.returncode == EXIT_OK and simlib_keys(client) == []


@pytest.mark.parametrize("ending", ["normal", "crash"])
def test_after_a_run_or_a_crash_nothing_is_left(ending, store, tmp_path):
    server, client = store
    argv = redlock_args(server.url, SHORT_RUN)
    command = [sys.executable, "-c", CRASHING, *argv] if ending == "crash" else [sys.executable, "-m", "simlib", *argv]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env_with_tmpdir(tmp_path))
    children: list[int] = []
    try:
        children = wait_for(lambda: all_lock_servers(process), timeout=STARTUP_S, what="simlib's servers")
        out, err = process.communicate(timeout=60)
    finally:
        stop_quietly(process, children)
    if ending == "crash":
        assert process.returncode == EXIT_INTERNAL
        assert "RuntimeError: injected crash" in err and "simlib: internal error" in err
    else:
        assert process.returncode == EXIT_OK, err
    assert server.password not in out + err
    assert_nothing_left(children, tmp_path)
    assert simlib_keys(client) == []


def test_embedded_servers_listen_on_loopback_only_and_keep_their_password(lab):
    for endpoint in lab.endpoints:
        server = endpoint.server
        assert listening_addresses(server.port) == {LOOPBACK_V4_HEX}, endpoint.role
        for view in ("cmdline", "environ"):
            assert server.password.encode() not in Path(f"/proc/{server.pid}/{view}").read_bytes()
        assert server.password not in repr(endpoint) + repr(server) + endpoint.public_url
