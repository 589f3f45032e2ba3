"""Single-instance lock with a fencing token: the lock script also INCRs the seat's fence counter.

The ``setnx`` turnstile, plus a ticket number printed by the same machine in the same motion: taking the lock and
drawing the token are one Lua step on the store, so tokens are handed out in exactly the order the lock was won.
The booking is :mod:`.fencing`'s script, which refuses any token older than the newest the store has seen. A holder
paused past its TTL therefore cannot overwrite the next holder's booking: the store, not the holder's sense of time,
decides. What it cannot do is make a single server survive a crash (no replication is involved here).
"""
from __future__ import annotations

import secrets

from ..record import Result
from .base import Strategy, booked, refused
from .fencing import BOOKED, FREE, Fenced, load_scripts, refusal
from .registry import register


@register
class SetNXFenced(Fenced, Strategy):
    name = "setnx-fenced"
    exclusive = True
    guarantee = (
        "exclusive even when a holder stalls past its TTL: the lock and a monotonic fencing token come from one"
        " script, and the store rejects writes with an older token (single server)"
    )

    async def prepare(self) -> None:
        self._lock, self._release = await load_scripts(self.ctx.store, "lock_and_fence", "release")
        await self.prepare_fence_scripts()

    async def book(self, user_id: int, seat_id: int) -> Result:
        lock_key = self.keys.lock(seat_id)
        token = secrets.token_hex(16)  # one token per acquisition
        fence = int(await self._lock(keys=[lock_key, self.keys.fence(seat_id)], args=[token, self.ctx.ttl_ms]))
        if not fence:
            return refused("lock_contended", round_trips=1)
        mark = {"lock_token": token, "fence_token": fence}
        try:
            state = await self.check_fenced(seat_id, fence)
            if state != FREE:
                return refusal(state, round_trips=2, **mark)
            await self.hold()
            answer = await self.write_fenced(user_id, seat_id, fence)
            if answer == BOOKED:
                return booked(round_trips=3, **mark)
            return refusal(answer, round_trips=3, **mark)
        finally:
            await self._release(keys=[lock_key], args=[token])
