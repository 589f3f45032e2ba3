"""Redlock: a lease that needs a majority of N independent Redis servers (redis.io, "Distributed Locks with Redis").

Like needing signatures from a majority of five notaries who never talk to each other. One attempt:

1. take a fresh random token and the monotonic time;
2. ``SET key token NX PX ttl`` on all N lock servers concurrently;
3. the lock is held if at least ``N // 2 + 1`` of the *configured* N said yes (never a majority of those that
   answered) and the validity ``ttl - elapsed - drift`` is positive, with ``drift = ttl * 0.01 + 2 ms``;
4. otherwise release on every server (also those that seemed to say no: the reply may have been lost) and retry
   after a random delay, at most ``max_retries`` times.

Before locking, a fan peeks at the seat on the store and walks away if it is already sold (double-checked
locking: the check under the lock is still what decides). Without the peek, every late fan of a hot seat would
queue for the lock only to learn the seat is gone, and a 10k burst would serialise on one lease.

The booking itself is written to the store. Kleppmann's critique applies: a holder paused past its validity may
still write; the fenced variant (a later issue) closes that gap.
"""
from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from ..record import Result
from .base import Strategy, booked, lua_source, refused
from .registry import register

CLOCK_DRIFT_FACTOR = 0.01
CLOCK_DRIFT_FLOOR_MS = 2.0
RETRY_DELAY_MS = 10.0


def quorum(configured_nodes: int) -> int:
    """Votes needed: a strict majority of the configured N."""
    return configured_nodes // 2 + 1


def validity_ms(ttl_ms: float, elapsed_ms: float) -> float:
    """How long the lock may be trusted after acquiring it: ttl - elapsed - drift."""
    return ttl_ms - elapsed_ms - (ttl_ms * CLOCK_DRIFT_FACTOR + CLOCK_DRIFT_FLOOR_MS)


@dataclass(frozen=True, slots=True)
class Lease:
    """One acquisition: its token (empty if none), when its validity ends (monotonic ns), retries and round trips."""

    token: str
    deadline_ns: int
    retries: int
    round_trips: int


@register
class Redlock(Strategy):
    name = "redlock"
    exclusive = True
    guarantee = (
        "exclusive while the holder finishes within the lock validity and a majority of lock servers keep the key;"
        " no fencing: a paused holder can still write"
    )
    needs_lock_servers = True

    async def prepare(self) -> None:
        if not self.ctx.lock_clients:
            raise ValueError("redlock needs lock servers")
        source = lua_source("release")
        self._releases = [client.register_script(source) for client in self.ctx.lock_clients]
        # a minority of lock servers may be down: Redlock works without them (Script reloads on NOSCRIPT later)
        await asyncio.gather(*(client.script_load(source) for client in self.ctx.lock_clients), return_exceptions=True)

    @property
    def quorum(self) -> int:
        return quorum(len(self.ctx.lock_clients))

    async def _set_everywhere(self, key: str, token: str) -> int:
        replies = await asyncio.gather(
            *(client.set(key, token, nx=True, px=self.ctx.ttl_ms) for client in self.ctx.lock_clients),
            return_exceptions=True,
        )
        return sum(1 for reply in replies if reply is True)

    async def _release_everywhere(self, key: str, token: str) -> None:
        await asyncio.gather(*(release(keys=[key], args=[token]) for release in self._releases), return_exceptions=True)

    async def acquire(self, key: str, still_wanted=None) -> Lease:
        """Try to take the lock with bounded retries. ``lease.token`` is empty if no quorum was reached.

        ``still_wanted`` (an async predicate) is asked before each retry; False ends the retries early (the
        seat was sold meanwhile, so waiting for the lock is pointless)."""
        round_trips = 0
        for retry in range(self.ctx.max_retries + 1):
            if retry and still_wanted is not None:
                round_trips += 1
                if not await still_wanted():
                    return Lease("", 0, retry, round_trips)
            token = secrets.token_hex(16)
            start_ns = self.ctx.clock_ns()
            votes = await self._set_everywhere(key, token)
            elapsed_ms = (self.ctx.clock_ns() - start_ns) / 1e6
            round_trips += 1
            validity = validity_ms(self.ctx.ttl_ms, elapsed_ms)
            if votes >= self.quorum and validity > 0:
                return Lease(token, start_ns + int(validity * 1e6), retry, round_trips)
            await self._release_everywhere(key, token)
            round_trips += 1
            if retry < self.ctx.max_retries:
                await asyncio.sleep(self.ctx.rng.uniform(0, 2 * RETRY_DELAY_MS) / 1000)
        return Lease("", 0, self.ctx.max_retries, round_trips)

    async def peek_and_acquire(self, seat_id: int) -> tuple[Lease, Result | None]:
        """Walk away if the seat is already sold (the peek, repeated before every retry), else take the lock.
        Round trips include the peeks; the result is a refusal when there is no lease to go on with."""
        seat_key = self.keys.seat(seat_id)
        seat_sold = False

        async def still_free() -> bool:
            nonlocal seat_sold
            seat_sold = await self.ctx.store.get(seat_key) is not None
            return not seat_sold

        if not await still_free():
            return Lease("", 0, 0, 1), refused("seat_taken", round_trips=1)
        lease = await self.acquire(self.keys.lock(seat_id), still_wanted=still_free)
        lease = Lease(lease.token, lease.deadline_ns, lease.retries, lease.round_trips + 1)
        if not lease.token:
            reason = "seat_taken" if seat_sold else "lock_contended"
            return lease, refused(reason, retries=lease.retries, round_trips=lease.round_trips)
        return lease, None

    async def book(self, user_id: int, seat_id: int) -> Result:
        seat_key, lock_key = self.keys.seat(seat_id), self.keys.lock(seat_id)
        lease, refusal = await self.peek_and_acquire(seat_id)
        if refusal is not None:
            return refusal
        token, retries, round_trips = lease.token, lease.retries, lease.round_trips
        try:
            if await self.ctx.store.get(seat_key) is not None:
                return refused("seat_taken", retries=retries, round_trips=round_trips + 2, lock_token=token)
            await self.hold()
            if self.ctx.clock_ns() >= lease.deadline_ns:
                return refused("gave_up", retries=retries, round_trips=round_trips + 2, lock_token=token,
                               error="lock validity ran out before the write")
            await self.write_booking(user_id, seat_id, token)
            return booked(retries=retries, round_trips=round_trips + 3, lock_token=token)
        finally:
            await self._release_everywhere(lock_key, token)
