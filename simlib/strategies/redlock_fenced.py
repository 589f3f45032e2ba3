"""Redlock plus a fencing token drawn from the store right after reaching quorum.

Five notaries still sign the lease, but the ticket number comes from the box office itself: once a fan holds a
majority, one INCR on the store hands out the next token, and the store's fenced booking script refuses any token
older than the newest it has seen for the seat.

What it buys: a holder that stalls after taking its token (a GC pause, SIGSTOP, a slow network) and is overtaken by
a later holder cannot overwrite that holder's booking; nor can a holder whose lock was voided behind its back
(a lock server restarted empty, a server's clock jumping ahead and expiring the key early) once a rival has checked
the seat. What it does not buy: the token is not tied to the lock. Independent Redlock servers share no counter
(Kleppmann's point), so the order of tokens is the order of arrival at the store, not the order in which leases were
granted: a holder that stalls *between* quorum and the INCR draws a newer token than a rival who got the lock later,
and the store will side with it. The store, a single server, is what makes the booking safe; the lock only keeps
most fans from trying at the same time.
"""
from __future__ import annotations

from ..record import Result
from .base import booked, refused
from .fencing import BOOKED, FREE, Fenced, refusal
from .redlock import Redlock
from .registry import register


@register
class RedlockFenced(Fenced, Redlock):
    name = "redlock-fenced"
    exclusive = True
    guarantee = (
        "exclusive even when a holder stalls past its validity or a lock server forgets the key: after quorum the"
        " store hands out a fencing token and rejects writes with an older one; token order is store arrival order"
    )

    async def prepare(self) -> None:
        await super().prepare()
        await self.prepare_fence_scripts()

    async def book(self, user_id: int, seat_id: int) -> Result:
        lease, early = await self.peek_and_acquire(seat_id)
        if early is not None:
            return early
        token, retries, round_trips = lease.token, lease.retries, lease.round_trips
        try:
            fence = int(await self.ctx.store.execute_command("INCR", self.keys.fence(seat_id)))  # either client kind
            mark = {"retries": retries, "lock_token": token, "fence_token": fence}
            state = await self.check_fenced(seat_id, fence)
            if state != FREE:
                return refusal(state, round_trips=round_trips + 2, **mark)
            await self.hold()
            if self.ctx.clock_ns() >= lease.deadline_ns:
                return refused("gave_up", round_trips=round_trips + 2, error="lock validity ran out before the write",
                               **mark)
            answer = await self.write_fenced(user_id, seat_id, fence)
            if answer == BOOKED:
                return booked(round_trips=round_trips + 3, **mark)
            return refusal(answer, round_trips=round_trips + 3, **mark)
        finally:
            await self._release_everywhere(self.keys.lock(seat_id), token)
