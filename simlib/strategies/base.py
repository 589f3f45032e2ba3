"""The one interface every booking strategy implements, and the pieces they share.

A strategy is a box-office clerk with one way of working: it acts on Redis and reports what happened, but it
never times itself (the runner owns the clock for every figure). Each strategy states its guarantee as class
data, so tests parametrize on it instead of on names.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, ClassVar, Sequence

from ..keys import KeySpace
from ..record import FAIL, OK, Result

LUA_PACKAGE = "simlib.strategies.lua"


def lua_source(name: str) -> str:
    """The text of ``strategies/lua/<name>.lua``."""
    return resources.files(LUA_PACKAGE).joinpath(f"{name}.lua").read_text(encoding="utf-8")


def ledger_entry(seat_id: int, user_id: int, token: str | int = "") -> str:
    return f"{seat_id}:{user_id}:{token}"


@dataclass
class Context:
    """What the runner hands a strategy: clients (never servers), key names, tunables and a monotonic clock."""

    store: object
    """redis.asyncio client for the store (seats and ledger) and the single-instance lock."""
    keys: KeySpace
    ttl_ms: int = 30_000
    hold_ms: float = 0.0
    max_retries: int = 3
    clock_ns: Callable[[], int] = field(default=lambda: 0)
    """Monotonic clock for protocol decisions only (Redlock's validity), never for metrics."""
    lock_clients: Sequence[object] = ()
    """Redlock's independent lock servers, in configured order."""
    rng: random.Random = field(default_factory=random.Random)
    """Jitter for retries; seeded by the runner."""


class Strategy:
    """Base class. Subclasses set the class data and implement :meth:`book`."""

    name: ClassVar[str]
    exclusive: ClassVar[bool]
    """True if the strategy never double-books in a fault-free run (lock holds stay under the TTL)."""
    guarantee: ClassVar[str]
    """One sentence users read in ``simlib strategies`` and the reports."""
    needs_lock_servers: ClassVar[bool] = False

    def __init__(self, context: Context):
        self.ctx = context
        self.keys = context.keys

    async def prepare(self) -> None:
        """Load scripts, seed inventory. Called once before the burst."""

    async def book(self, user_id: int, seat_id: int) -> Result:
        raise NotImplementedError

    # ---- shared steps ------------------------------------------------------------------------------------------
    async def hold(self) -> None:
        """The race window: what a winner spends between deciding the seat is free and confirming it."""
        if self.ctx.hold_ms > 0:
            await asyncio.sleep(self.ctx.hold_ms / 1000)

    async def write_booking(self, user_id: int, seat_id: int, token: str = "") -> None:
        """SET the seat's owner and append to the ledger in one MULTI/EXEC: one round trip, one server step."""
        async with self.ctx.store.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.seat(seat_id), user_id)
            pipe.rpush(self.keys.ledger, ledger_entry(seat_id, user_id, token))
            await pipe.execute()


def booked(**extra) -> Result:
    return Result(OK, "booked", **extra)


def refused(reason: str, **extra) -> Result:
    return Result(FAIL, reason, **extra)
