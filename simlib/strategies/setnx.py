"""Single-instance lock: ``SET lock token NX PX ttl``, then check, book and release (the seed article's approach).

One key on one server acts as a turnstile: whoever sets it first holds the seat for up to ``ttl_ms``; everyone
else is told 409 (``fail`` / ``lock_contended``). The release is a token-checked compare-and-delete in Lua, so a
holder whose lease ran out can never delete the next holder's lock. Exclusive only while hold time plus stalls
stay under the TTL (see Kleppmann, "How to do distributed locking", 2016).
"""
from __future__ import annotations

import secrets

from ..record import Result
from .base import Strategy, booked, lua_source, refused
from .registry import register


@register
class SetNX(Strategy):
    name = "setnx"
    exclusive = True
    guarantee = "exclusive while the holder finishes within the lock TTL; a single server is a single point of failure"

    async def prepare(self) -> None:
        self._release = self.ctx.store.register_script(lua_source("release"))
        await self.ctx.store.script_load(lua_source("release"))

    async def book(self, user_id: int, seat_id: int) -> Result:
        lock_key = self.keys.lock(seat_id)
        token = secrets.token_hex(16)  # one token per acquisition, never per instance
        store = self.ctx.store
        if not await store.set(lock_key, token, nx=True, px=self.ctx.ttl_ms):
            return refused("lock_contended", round_trips=1)
        try:
            if await store.get(self.keys.seat(seat_id)) is not None:
                return refused("seat_taken", round_trips=3, lock_token=token)
            await self.hold()
            await self.write_booking(user_id, seat_id, token)
            return booked(round_trips=4, lock_token=token)
        finally:
            await self._release(keys=[lock_key], args=[token])
