"""A lock holder in a process of its own, so a scenario can really freeze it with SIGSTOP and thaw it with SIGCONT.

Like a stage actor on a leash: the parent hands it a script line (which strategy, which servers, which seat), the
holder takes the lock, checks the seat and walks up to the write; there it says so on stdout and waits for a "go"
line. The parent freezes it by PID (SIGSTOP) *before* sending "go", keeps it frozen past its lease, lets a rival
book, and thaws it (SIGCONT): the write that follows is the stale write Kleppmann warns about. The "go" line only
makes the order certain (the holder cannot write before it is frozen); the stall itself is the real SIGSTOP.

Protocol (one JSON object per line): stdin carries one run config per line, then ``go`` at the write; stdout
answers ``start``, ``at_write`` (with the lease time left, read by the harness with PTTL), ``resumed`` and
``result``. End of stdin ends the process. The child dies with its parent (parent-death signal) and is stopped by
PID in :meth:`HolderProcess.close`, also when the scenario is interrupted.

Run as ``python -m simlib.faults.holder`` (the parent does that; it is not a user command).
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict

from ..errors import SimlibError
from ..servers import _die_with_parent
from .base import Clients, clock_ns, new_strategy, perform

STOP_CONFIRM_S = 2.0
CLOSE_TIMEOUT_S = 3.0
GO = "go"


class HolderFailed(SimlibError):
    """The holder subprocess died or did not answer in time (a harness failure, not a verdict)."""


# ---- the child ---------------------------------------------------------------------------------------------------------
def _emit(event: str, **fields) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def _hold_once(config: dict) -> None:
    from ..keys import KeySpace
    from ..lab import make_client

    timeout_ms = config["timeout_ms"]
    clients = Clients(
        make_client(config["store_url"], pool_size=4, timeout_ms=timeout_ms),
        [make_client(url, pool_size=4, timeout_ms=timeout_ms) for url in config["lock_urls"]],
    )
    keys = KeySpace(config["run_id"])
    seat = config["seat_id"]
    lease_server = clients.locks[0] if clients.locks else clients.store

    async def at_write() -> None:
        _emit("at_write", t_ns=clock_ns(), lease_pttl_ms=await lease_server.pttl(keys.lock(seat)))
        line = sys.stdin.readline().strip()  # blocks here; the parent freezes us before it sends "go"
        if line != GO:
            raise HolderFailed(f"holder expected '{GO}', got {line!r}")
        _emit("resumed", t_ns=clock_ns())

    try:
        strategy = new_strategy(config["strategy"], clients, keys, ttl_ms=config["ttl_ms"], seed=config["seed"],
                                gate=at_write)
        await strategy.prepare()
        _emit("start", t_ns=clock_ns())
        act = await perform("holder", strategy, config["user_id"], seat)
        _emit("result", started_ns=act.started_ns, ended_ns=act.ended_ns, result=asdict(act.result))
    finally:
        await clients.aclose()


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            asyncio.run(_hold_once(json.loads(line)))


# ---- the parent's leash ------------------------------------------------------------------------------------------------
_LIVE: set["HolderProcess"] = set()


def _close_all_live() -> None:
    for holder in list(_LIVE):
        holder.close()


atexit.register(_close_all_live)


def process_state(pid: int) -> str:
    """The one-letter state of a process from /proc (``T`` stopped, ``S`` sleeping...), or ``?`` if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


class HolderProcess:
    """The parent's handle on one holder subprocess: send configs, read events, stop/continue/kill it by PID."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simlib.faults.holder"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            preexec_fn=_die_with_parent(os.getpid()), close_fds=True,
        )
        _LIVE.add(self)
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(text.encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise HolderFailed(f"the holder process exited early{self._stderr_tail()}") from None

    def _readline(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise HolderFailed(f"the holder process did not answer within {timeout_s:g} s{self._stderr_tail()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise HolderFailed(f"the holder process exited{self._stderr_tail()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    async def expect(self, event: str, timeout_s: float = 5.0) -> dict:
        """The next event line, which must be ``event``."""
        message = await asyncio.to_thread(self._readline, timeout_s)
        if message.get("event") != event:
            raise HolderFailed(f"holder said {message.get('event')!r} where {event!r} was due")
        return message

    def stop(self) -> int:
        """SIGSTOP by PID, and wait until the kernel reports the process stopped. Returns when it was sent (ns)."""
        sent = clock_ns()
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.monotonic() + STOP_CONFIRM_S
        while process_state(self.pid) not in ("T", "t", "?"):
            if time.monotonic() > deadline:
                raise HolderFailed("the holder did not stop after SIGSTOP")
            time.sleep(0.001)
        return sent

    def cont(self) -> int:
        sent = clock_ns()
        os.kill(self.pid, signal.SIGCONT)
        return sent

    def close(self) -> None:
        """Thaw (a stopped process ignores SIGTERM until continued), end its input, then kill it if it lingers."""
        _LIVE.discard(self)
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=CLOSE_TIMEOUT_S)
            except (subprocess.TimeoutExpired, BrokenPipeError, ProcessLookupError):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream and not stream.closed:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass
        self._stderr.close()

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            tail = self._stderr.read()[-600:].decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        return f": {tail.splitlines()[-1]}" if tail else ""


if __name__ == "__main__":
    main()
