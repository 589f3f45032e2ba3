"""Fencing tokens: the store itself refuses a write from a lock holder whose lease has been overtaken.

Like a deli counter's ticket numbers: the counter remembers the highest number it has served, and a customer who
wandered off and comes back holding number 41 after 42 was called is turned away, however sure he is that it is his
turn. A lease-based lock cannot stop a paused holder from writing after its lease ran out (Kleppmann, "How to do
distributed locking", 2016); a store that checks a monotonically increasing token on every write can.

The two fenced strategies share these steps, run as Lua on the store:

- :meth:`Fenced.check_fenced`: under the lock, check the seat and raise the store's "newest token seen" to ours, so
  every older holder's write bounces from now on (even one that arrives before our own write);
- :meth:`Fenced.write_fenced`: write only if the seat is free and our token is not older than the newest seen,
  appending to the ledger in the same step.

How a strategy *draws* its token differs (the INCR inside the lock script for ``setnx-fenced``, an INCR on the
store after reaching quorum for ``redlock-fenced``), and that difference is what each guarantee states.
"""
from __future__ import annotations

from ..record import Result
from .base import ledger_entry, lua_source, refused

#: Answers of the fence scripts (see the .lua files).
FREE, TAKEN, STALE = 0, 1, -1
BOOKED, SEAT_TAKEN = 1, 0

STALE_ERROR = "fenced: a newer fencing token was seen for this seat; the lease was overtaken"


def seen_key(keys, seat_id: int) -> str:
    """STRING: the newest fencing token the store has seen for the seat (beside the counter that hands them out)."""
    return f"{keys.fence(seat_id)}:seen"


async def load_scripts(client, *names: str) -> list:
    """Register ``lua/<name>.lua`` scripts on ``client`` and preload them (a script reloads itself on NOSCRIPT)."""
    scripts = [client.register_script(lua_source(name)) for name in names]
    for name in names:
        await client.script_load(lua_source(name))
    return scripts


def refusal(answer: int, **extra) -> Result:
    """The fail result for a fence script's non-booking answer: STALE is ``gave_up`` (the lease was overtaken)."""
    if answer == STALE:
        return refused("gave_up", error=STALE_ERROR, **extra)
    return refused("seat_taken", **extra)


class Fenced:
    """Mixin for strategies whose bookings the store fences. Needs ``self.ctx`` and ``self.keys`` (a Strategy)."""

    async def prepare_fence_scripts(self) -> None:
        self._check, self._book = await load_scripts(self.ctx.store, "fence_check", "book_fenced")

    async def check_fenced(self, seat_id: int, fence_token: int) -> int:
        """FREE, TAKEN or STALE; on FREE the store now rejects every token older than ours for this seat."""
        keys = [self.keys.seat(seat_id), seen_key(self.keys, seat_id)]
        return int(await self._check(keys=keys, args=[fence_token]))

    async def write_fenced(self, user_id: int, seat_id: int, fence_token: int) -> int:
        """BOOKED, SEAT_TAKEN or STALE: the one server-side step that decides the booking."""
        keys = [self.keys.seat(seat_id), seen_key(self.keys, seat_id), self.keys.ledger]
        args = [user_id, fence_token, ledger_entry(seat_id, user_id, fence_token)]
        return int(await self._book(keys=keys, args=args))
